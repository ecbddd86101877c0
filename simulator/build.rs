//! Makes every binary of this package (stoop-sim, its tests) take its
//! entropy from `src/entropy.rs`: `-u getrandom` pulls the definition out
//! of the library, and exporting it lets `dlsym(RTLD_DEFAULT, "getrandom")`
//! (how std, getrandom 0.3 and 0.4 find libc's) find it first. A run is
//! then repeatable from its seed. This package is never shipped: stoopd is
//! built in the root workspace, without it.

fn main() {
    println!("cargo::rustc-link-arg=-Wl,-u,getrandom");
    println!("cargo::rustc-link-arg=-Wl,--export-dynamic-symbol=getrandom");
    println!("cargo::rerun-if-changed=build.rs");
}
