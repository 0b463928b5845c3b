//! The web port: the page (HTML, CSS and JavaScript built into the binary) and the
//! WebSocket upgrade at `/ws`, both read from the request head on the connection's own
//! thread. An upgrade from another site's page (its `Origin`) is refused, so no page can
//! open a chat connection in a visitor's name.

use std::io::{self, Read};
use std::time::Instant;

use crate::transport::Transport;

/// The longest request head read (a browser's is well under 2 KiB).
const MAX_HEAD: usize = 8 * 1024;

/// One file of the page.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/app.js"),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/app.css"),
    },
];

/// Headers every answer carries: the page runs only its own scripts and styles, and
/// nothing it serves is taken for another type.
const SECURITY_HEADERS: &str = "Content-Security-Policy: default-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n\
    X-Content-Type-Options: nosniff\r\n\
    Referrer-Policy: no-referrer\r\n";

/// What a web connection asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// The WebSocket: the `101` answer to send, after which lines are framed.
    Upgrade(Vec<u8>),
    /// Anything else: the whole HTTP answer; the connection closes after it.
    Answer(Vec<u8>),
}

/// Reads the request head and decides the answer. `origins`: the `Origin`s allowed
/// besides the page's own (`--web-origin`).
///
/// # Errors
/// If the head doesn't come before `deadline` or the connection fails.
pub(crate) fn serve_head(
    transport: &Transport,
    deadline: Instant,
    origins: &[String],
) -> io::Result<Asked> {
    let head = read_head(transport, deadline)?;
    Ok(answer(&head, transport.is_tls(), origins))
}

/// Reads up to the blank line that ends the head (at most [`MAX_HEAD`] bytes).
fn read_head(transport: &Transport, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // A byte at a time: nothing after the head may be taken from the stream (the client's
    // first frames may follow it at once).
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Ok(head);
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no request in time"))?;
        transport.set_read_timeout(Some(left))?;
        match (&*transport).read(&mut byte) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => head.push(byte[0]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request in time",
                ));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(head)
}

/// The answer to a request head.
fn answer(head: &[u8], tls: bool, origins: &[String]) -> Asked {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = request.parse(head) else {
        return Asked::Answer(plain_answer("400 Bad Request", "bad request\n"));
    };
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .and_then(|header| std::str::from_utf8(header.value).ok())
    };
    let path = request.path.unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if request.method != Some("GET") {
        return Asked::Answer(plain_answer("405 Method Not Allowed", "GET only\n"));
    }
    if path == "/ws" {
        let upgrade =
            header("Upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
        let Some(key) = header("Sec-WebSocket-Key").filter(|_| upgrade) else {
            return Asked::Answer(plain_answer(
                "426 Upgrade Required",
                "this is the WebSocket endpoint\n",
            ));
        };
        let scheme = if tls { "https" } else { "http" };
        let own = header("Host").map(|host| format!("{scheme}://{host}"));
        // Browsers always send Origin; a program that doesn't is no visitor's page.
        let allowed = match header("Origin") {
            None => true,
            Some(origin) => {
                own.as_deref() == Some(origin) || origins.iter().any(|allowed| allowed == origin)
            }
        };
        if !allowed {
            return Asked::Answer(plain_answer(
                "403 Forbidden",
                "this page's origin may not connect\n",
            ));
        }
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nCache-Control: no-store\r\n{SECURITY_HEADERS}\r\n"
        );
        return Asked::Upgrade(response.into_bytes());
    }
    // Browsers ask for an icon whatever the page says; there is none.
    if path == "/favicon.ico" {
        return Asked::Answer(response(
            "204 No Content",
            "image/x-icon",
            "max-age=86400",
            "",
        ));
    }
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => Asked::Answer(response(
            "200 OK",
            asset.content_type,
            "no-cache",
            asset.body,
        )),
        None => Asked::Answer(plain_answer("404 Not Found", "not found\n")),
    }
}

fn plain_answer(status: &str, body: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", "no-store", body)
}

fn response(status: &str, content_type: &str, cache: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: {cache}\r\nConnection: close\r\n{SECURITY_HEADERS}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(asked: &Asked) -> String {
        match asked {
            Asked::Upgrade(bytes) | Asked::Answer(bytes) => {
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    #[test]
    fn the_page_is_served_with_its_security_headers() {
        let asked = answer(b"GET / HTTP/1.1\r\nHost: a:1\r\n\r\n", false, &[]);
        let page = text(&asked);
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("Content-Security-Policy: default-src 'self'"));
        assert!(page.contains("X-Content-Type-Options: nosniff"));
        let missing = answer(b"GET /nope HTTP/1.1\r\n\r\n", false, &[]);
        assert!(text(&missing).starts_with("HTTP/1.1 404"));
        let post = answer(b"POST / HTTP/1.1\r\n\r\n", false, &[]);
        assert!(text(&post).starts_with("HTTP/1.1 405"));
    }

    #[test]
    fn the_upgrade_checks_the_origin() {
        let request = |origin: &str| {
            format!(
                "GET /ws HTTP/1.1\r\nHost: chat.example:8080\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
            )
        };
        let own = answer(request("http://chat.example:8080").as_bytes(), false, &[]);
        assert!(matches!(own, Asked::Upgrade(_)));
        assert!(text(&own).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        let evil = answer(request("http://evil.example").as_bytes(), false, &[]);
        assert!(text(&evil).starts_with("HTTP/1.1 403"));
        let listed = answer(
            request("http://evil.example").as_bytes(),
            false,
            &["http://evil.example".to_string()],
        );
        assert!(matches!(listed, Asked::Upgrade(_)));
        let over_tls = answer(request("http://chat.example:8080").as_bytes(), true, &[]);
        assert!(text(&over_tls).starts_with("HTTP/1.1 403"));
    }
}
