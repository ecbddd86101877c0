//! Query strings reach the node intact: `stoop feed` against a one-request
//! HTTP server that decodes the query the way the node's API does.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

/// Serves one request with `body` and returns its request target
/// (`/path?query`).
fn serve_once(listener: TcpListener, body: &'static str) -> std::thread::JoinHandle<std::io::Result<String>> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        // Read the rest of the head so the client is not cut off mid-send.
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let target = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
        Ok(target)
    })
}

#[test]
fn feed_filters_with_reserved_characters_reach_the_node_intact() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = serve_once(listener, r#"{"alerts":[]}"#);
    let tmp = tempfile::tempdir()?;
    let token = tmp.path().join("token");
    std::fs::write(&token, "t")?;
    let category = "a&b=c d #été?+%";
    let out = Command::new(env!("CARGO_BIN_EXE_stoop"))
        .args(["--node", &url, "--token-file", &token.to_string_lossy(), "--json", "feed", "--category", category])
        .env_remove("STOOP_DATA_DIR")
        .output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let target = server.join().map_err(|_| "server panicked")??;
    let (path, query) = target.split_once('?').ok_or_else(|| format!("no query in {target:?}"))?;
    assert_eq!(path, "/v1/alerts");
    // Decoded as the node's API (axum's Query, i.e. serde_urlencoded) does.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)?;
    assert_eq!(
        pairs,
        [("include_hidden".to_owned(), "false".to_owned()), ("category".to_owned(), category.to_owned())],
        "sent {target:?}"
    );
    Ok(())
}
