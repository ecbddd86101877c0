//! The web page in a real browser: headless Chromium from Debian's
//! `chromium` and `chromium-driver` packages (.ci/run installs them),
//! driven over WebDriver with fantoccini, against real `stoopd` processes.
//!
//! Each test starts its own chromedriver (killed with its browsers, as a
//! process group, on drop) and bounds every wait with [`WAIT`].
//! `STOOP_WEB_SCREENSHOTS=docs` makes the first test save the feed and the
//! post form as docs/web-feed.png and docs/web-post.png.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use stoop_tests::{Node, TestResult, WAIT, binary, free_port, join_hood, wait_for, with_logs};

/// A chromedriver process group: the driver and every browser it started.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> TestResult<Self> {
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("chromedriver not found: apt-get install chromium chromium-driver (.ci/run does)")?;
        let port = free_port()?;
        let mut cmd = Command::new(driver);
        cmd.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn()?;
        let me = Self { child, url: format!("http://127.0.0.1:{port}") };
        wait_for(WAIT, "chromedriver to listen", || TcpStream::connect(("127.0.0.1", port)).ok())?;
        Ok(me)
    }

    /// A fresh browser with its own profile (own cookies).
    fn browser(&self) -> TestResult<Browser> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1000,1100", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                ],
            },
        });
        let Value::Object(caps) = caps else { return Err("capabilities".into()) };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let connect = builder.capabilities(caps).connect(&self.url);
        let client = rt.block_on(async { tokio::time::timeout(WAIT, connect).await })??;
        Ok(Browser { rt, client: Some(client) })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let _ = Command::new("kill").args(["-KILL", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A synchronous face on one WebDriver session (the node helpers block, so
/// the tests stay synchronous and run each browser step to completion).
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl Browser {
    fn client(&self) -> TestResult<&Client> {
        Ok(self.client.as_ref().ok_or("browser closed")?)
    }

    fn run<T>(&self, f: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>) -> TestResult<T> {
        Ok(self.rt.block_on(async { tokio::time::timeout(WAIT, f).await })??)
    }

    fn goto(&self, url: &str) -> TestResult {
        self.run(self.client()?.goto(url))
    }

    fn js(&self, script: &str) -> TestResult<Value> {
        self.run(self.client()?.execute(script, Vec::new()))
    }

    /// Polls `script` until it returns something other than null/false.
    fn wait_js(&self, what: &str, script: &str) -> TestResult<Value> {
        let start = Instant::now();
        loop {
            let v = self.js(script)?;
            if !v.is_null() && v != Value::Bool(false) {
                return Ok(v);
            }
            if start.elapsed() > WAIT {
                let body = self.js("return document.body ? document.body.innerText : ''")?;
                return Err(
                    format!("timed out waiting for {what}; the page shows:\n{}", body.as_str().unwrap_or("")).into()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the element `css` exists and its text contains `text`.
    fn wait_text(&self, css: &str, text: &str) -> TestResult {
        let script =
            format!("const e = document.querySelector({css:?}); return !!e && e.textContent.includes({text:?});");
        self.wait_js(&format!("{text:?} in {css}"), &script).map(drop)
    }

    fn text_of(&self, css: &str) -> TestResult<String> {
        let v = self.js(&format!("const e = document.querySelector({css:?}); return e ? e.textContent : null;"))?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    fn fill(&self, css: &str, text: &str) -> TestResult {
        let c = self.client()?;
        let el = self.run(c.find(Locator::Css(css)))?;
        self.run(el.clear())?;
        self.run(el.send_keys(text))
    }

    fn click(&self, css: &str) -> TestResult {
        let c = self.client()?;
        let el = self.run(c.find(Locator::Css(css)))?;
        self.run(el.click())
    }

    fn screenshot(&self, name: &str) -> TestResult {
        if let Some(dir) = std::env::var_os("STOOP_WEB_SCREENSHOTS") {
            let png = self.run(self.client()?.screenshot())?;
            let dir = workspace_root().join(dir);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join(name), png)?;
        }
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
    }
}

/// Another site (`localhost` on its own port: another origin and another
/// site than `127.0.0.1`) serving one page, until dropped.
struct EvilSite {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl EvilSite {
    fn serve(html: String) -> TestResult<Self> {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + 4 * WAIT;
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    html.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(html.as_bytes());
            }
        });
        Ok(Self { url: format!("http://localhost:{port}/"), stop })
    }
}

impl Drop for EvilSite {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The node's web page URL (from `web.addr`).
fn web_url(node: &Node) -> TestResult<String> {
    let addr = wait_for(WAIT, "the web address file", || std::fs::read_to_string(node.dir.join("web.addr")).ok())?;
    Ok(format!("http://{}", addr.trim()))
}

fn stoop(node: &Node, args: &[&str]) -> TestResult<Output> {
    let d = node.dir.to_string_lossy().into_owned();
    let mut all = vec!["--data-dir", d.as_str()];
    all.extend(args);
    Ok(Command::new(binary("stoop")).args(&all).env_remove("STOOP_DATA_DIR").env("NO_COLOR", "1").output()?)
}

fn stoop_json(node: &Node, args: &[&str]) -> TestResult<Value> {
    let mut all = vec!["--json"];
    all.extend(args);
    let out = stoop(node, &all)?;
    if !out.status.success() {
        return Err(format!("stoop {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Ids of the alerts with `headline` on `node`.
fn alert_id(node: &Node, headline: &str) -> TestResult<String> {
    let (_, v) = node.get("/v1/alerts")?;
    let found = v["alerts"].as_array().and_then(|a| a.iter().find(|x| x["headline"] == headline));
    Ok(found.and_then(|x| x["id"].as_str()).ok_or("alert not found")?.to_owned())
}

#[test]
fn feed_live_updates_posting_refusals_and_moderation_in_a_browser() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let nodes = join_hood(tmp.path(), 2)?;
    let result = feed_scenario(&nodes);
    with_logs(&nodes, result)
}

fn feed_scenario(nodes: &[Node]) -> TestResult {
    let web = web_url(&nodes[0])?;
    nodes[0].post_alert("Downed tree on Elm Street")?;
    let driver = ChromeDriver::start()?;
    let a = driver.browser()?;

    // The feed shows alerts (a browser on the node's machine: trusted).
    a.goto(&format!("{web}/"))?;
    a.wait_text("#feed", "Downed tree on Elm Street")?;

    // An alert posted on another node arrives live, without a reload.
    a.js("window.__sameDocument = 'yes'; return null;")?;
    nodes[1].post_alert("Loose dog near the park")?;
    a.wait_text("#feed", "Loose dog near the park")?;
    assert_eq!(a.js("return window.__sameDocument || null;")?, json!("yes"), "the page was reloaded");
    a.screenshot("web-feed.png")?;

    // A link in the description: refused next to the field, nothing stored.
    a.goto(&format!("{web}/#/post"))?;
    a.wait_js("the post form", "return document.body.dataset.ready === 'post';")?;
    let before = nodes[0].store_messages()?;
    a.fill("#p-event", "hazard")?;
    a.fill("#p-headline", "Broken glass at the playground")?;
    a.fill("#p-description", "Photos at https://example.com/glass")?;
    a.click("#post-submit")?;
    a.wait_text("#err-description", "link_not_allowed")?;
    assert!(a.text_of("#err-description")?.contains("Links are not allowed"), "plain words next to the field");
    assert_eq!(a.text_of("#err-headline")?, "", "the error is next to the description only");
    a.screenshot("web-post.png")?;
    assert_eq!(nodes[0].store_messages()?, before, "a refused post stored something");
    // The control: the same form without the link is accepted and stored.
    a.fill("#p-description", "Glass all over the sandbox, keep kids away.")?;
    a.click("#post-submit")?;
    a.wait_js("the new alert's page", "return location.hash.startsWith('#/alert/') || null;")?;
    assert_eq!(nodes[0].store_messages()?, before + 1);

    // A moderator's hide removes the alert from a second browser's feed.
    let b = driver.browser()?;
    b.goto(&format!("{web}/"))?;
    b.wait_text("#feed", "Loose dog near the park")?;
    let dog = alert_id(&nodes[0], "Loose dog near the park")?;
    a.goto(&format!("{web}/#/alert/{dog}"))?;
    a.wait_js("the moderation tools", "return !!document.querySelector('#alert-body .card h3');")?;
    a.js("document.querySelector(`select[id^='a-vote-reason']`).value = 'off_topic'; return null;")?;
    a.js(
        "[...document.querySelectorAll('#alert-body button')].find(b => b.textContent === 'Vote to hide').click(); return null;",
    )?;
    b.wait_js(
        "the hidden alert to leave the second feed",
        "const t = document.querySelector('#feed').textContent; return !t.includes('Loose dog') && t.includes('Downed tree');",
    )?;
    assert_eq!(nodes[0].alert_state(&dog).as_deref(), Some("hidden"));

    // A forged cross-site POST (a page elsewhere submitting a form to the
    // node) is refused, though this browser is trusted on loopback.
    let before = nodes[0].store_messages()?;
    let forged = format!(
        "<!doctype html><title>Free pizza</title><form method=post enctype=text/plain action='{web}/api/v1/alerts'>\
         <input name='{{\"category\":\"safety\",\"event\":\"x\",\"headline\":\"forged\",\"x\":\"' value='\"}}'></form>"
    );
    let evil = EvilSite::serve(forged)?;
    b.goto(&evil.url)?;
    b.wait_js("the other site's page", "return document.title === 'Free pizza' || null;")?;
    b.js("document.forms[0].submit(); return null;")?;
    b.wait_js("the refusal", "return document.body && document.body.innerText.includes('cross_site') || null;")?;
    // And the same without a browser: a wrong Origin, or the right one
    // without the CSRF token, or a rebound Host name.
    let http = nodes[0].raw();
    let body = json!({ "category": "safety", "event": "x", "headline": "forged" });
    let r = http.post(format!("{web}/api/v1/alerts")).header("Origin", "http://evil.example").json(&body).send()?;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.json::<Value>()?["error"]["reason"], "cross_site");
    let r = http.post(format!("{web}/api/v1/alerts")).header("Origin", web.as_str()).json(&body).send()?;
    assert_eq!(r.json::<Value>()?["error"]["reason"], "bad_csrf");
    let port = web.rsplit(':').next().unwrap_or("");
    let r = http.get(format!("{web}/api/v1/status")).header("Host", format!("rebind.example:{port}")).send()?;
    assert_eq!(r.status().as_u16(), 421, "a DNS-rebound Host is refused");
    assert_eq!(nodes[0].store_messages()?, before, "a forged post stored something");
    // The control: the page's own scripted write with its token works.
    let ok = http.get(format!("{web}/web/session")).send()?.json::<Value>()?;
    let r = http
        .post(format!("{web}/api/v1/alerts"))
        .header("Origin", web.as_str())
        .header("X-Stoop-Csrf", ok["csrf"].as_str().unwrap_or(""))
        .json(&json!({ "category": "safety", "event": "hazard", "headline": "Same-origin post", "description": "Posted by the page itself." }))
        .send()?;
    let status = r.status().as_u16();
    assert_eq!(status, 201, "{}", r.text()?);
    Ok(())
}

#[test]
fn off_loopback_only_the_pairing_page_until_paired_and_revoked() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("node0");
    Node::init_only(&dir, 500, 1000)?;
    // Browsers on this machine are strangers here, as a phone on the LAN
    // is by default: the same checks, without a LAN interface in CI.
    let config = std::fs::read_to_string(dir.join("stoop.toml"))?;
    let untrusted = config.replace("web_trust_loopback = true", "web_trust_loopback = false");
    assert_ne!(untrusted, config, "stoopd init wrote no web_trust_loopback");
    std::fs::write(dir.join("stoop.toml"), untrusted)?;
    let mut node = Node::start(&dir)?;
    let result = pairing_scenario(&mut node);
    with_logs(std::slice::from_ref(&node), result)
}

fn pairing_scenario(node: &mut Node) -> TestResult {
    node.post_alert("Water main break on Oak")?;
    let web = web_url(node)?;
    let driver = ChromeDriver::start()?;
    let phone = driver.browser()?;

    // Unpaired: the app redirects to the pairing page; the JSON is closed.
    phone.goto(&format!("{web}/"))?;
    phone.wait_js(
        "the pairing page",
        "return location.pathname === '/pair' && !!document.getElementById('pair-form');",
    )?;
    assert!(!phone.text_of("body")?.contains("Water main"), "an unpaired browser sees alerts");
    let status = phone.wait_js("an API answer", "return fetch('/api/v1/alerts').then(r => r.status);")?;
    assert_eq!(status, json!(401));
    phone.goto(&format!("{web}/app.js"))?;
    phone.wait_js("the redirect", "return location.pathname === '/pair' || null;")?;

    // A wrong code is refused in words; the printed one pairs.
    let code = stoop_json(node, &["web", "pair", "--name", "Test phone"])?;
    let code_text = code["code"].as_str().ok_or("no code")?.to_owned();
    assert!(code["url"].as_str().unwrap_or("").contains(&format!("/pair#code={code_text}")));
    phone.fill("#code", "AAAA-AAAA")?;
    phone.click("#pair-button")?;
    phone.wait_text("#pair-error", "bad_code")?;
    phone.fill("#code", &code_text)?;
    phone.click("#pair-button")?;
    phone.wait_text("#feed", "Water main break on Oak")?;
    let devices = stoop_json(node, &["web", "devices"])?;
    let list = devices["devices"].as_array().ok_or("no device list")?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "Test phone");
    let id = list[0]["id"].as_str().ok_or("no id")?.to_owned();

    // The session survives a restart (cookies ignore the port, which changes).
    node.stop()?;
    node.restart()?;
    let web = web_url(node)?;
    phone.goto(&format!("{web}/"))?;
    phone.wait_text("#feed", "Water main break on Oak")?;

    // Revoked: back to the pairing page.
    stoop_json(node, &["web", "revoke", &id])?;
    phone.goto(&format!("{web}/"))?;
    phone.wait_js("the pairing page again", "return location.pathname === '/pair' || null;")?;
    assert_eq!(stoop_json(node, &["web", "devices"])?["devices"], json!([]));
    Ok(())
}
