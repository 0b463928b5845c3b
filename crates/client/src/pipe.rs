//! Plain mode, for pipes, scripts and bots: stdin lines go to the server, server lines go
//! to stdout (with a timestamp unless turned off), and nothing else: no prompt, no escape
//! codes. The client's own messages go to stderr.

use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::thread;

use crate::link::{Event, Link};
use crate::{ClientError, Options, describe, timestamp};

/// Runs the client with plain lines in and out. Returns `Ok` when the user quit (`/quit`
/// or end of input).
///
/// # Errors
/// When the client can't connect, loses the connection (without `--reconnect`), or
/// can't write to stdout.
pub fn run(options: &Options) -> Result<(), ClientError> {
    let link = Arc::new(Link::new(options));
    let stream = link.connect()?;

    let stdin_link = Arc::clone(&link);
    // Never joined: it may be blocked on stdin when the server goes away, and returning
    // from here then ends the process.
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || copy_stdin(&stdin_link))
        .map_err(|err| ClientError::Lost(Some(err)))?;

    let timestamps = options.timestamps;
    let mut out = io::stdout().lock();
    // A refused name needs no special case: the server waits for another one, and the
    // stdin thread sends the next line as the next try.
    link.run(stream, &mut |event| match event {
        Event::Line(line) => writeln!(out, "{}{line}", timestamp(timestamps)),
        status => {
            if let Some(status) = status.status() {
                eprintln!("chat-client: {status}");
            }
            Ok(())
        }
    })
}

/// Copies stdin to the server line by line; the end of input quits as `/quit` does.
fn copy_stdin(link: &Link) {
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match link.send(&line) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                eprintln!("chat-client: not connected, line not sent: {line}");
            }
            // The reading side notices the lost connection and reports it.
            Err(err) => log::debug!("send failed: {}", describe(&err)),
        }
    }
    link.quit();
}
