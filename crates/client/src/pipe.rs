//! Plain mode, for pipes, scripts and bots: stdin lines go to the server, server lines go
//! to stdout (with a timestamp unless turned off), and nothing else: no prompt, no escape
//! codes. Stdout is a transcript: one's own chat lines are in it too, as the room sees
//! them. The client's own messages go to stderr.

use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};
use std::thread;

use chat_protocol::{self as protocol, Command};
use chat_sync::lock;

use crate::commands::{self, Answer};
use crate::link::{Event, Link};
use crate::{ClientError, Options, describe, timestamp};

/// Runs the client with plain lines in and out. Returns `Ok` when the user quit (`/quit`
/// or end of input).
///
/// # Errors
/// When the client can't connect, is refused (a taken name included: nobody is there to
/// choose another), loses the connection (without `--reconnect`), or can't write to
/// stdout.
pub fn run(options: &Options) -> Result<(), ClientError> {
    let link = Arc::new(Link::new(options, false));
    let wire = link.connect()?;
    let out = Arc::new(Mutex::new(io::stdout()));
    let timestamps = options.timestamps;

    let stdin_link = Arc::clone(&link);
    let stdin_out = Arc::clone(&out);
    // Never joined: it may be blocked on stdin when the server goes away, and returning
    // from here then ends the process.
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || copy_stdin(&stdin_link, &stdin_out, timestamps))
        .map_err(|err| ClientError::Lost(Some(err)))?;

    link.run(wire, &mut |event| match event {
        Event::Line(line) | Event::Quiet(line) => {
            if link.with_session(|session| session.ignores_line(&line)) {
                return Ok(());
            }
            let mut out = lock(&out);
            writeln!(out, "{}{line}", timestamp(timestamps))?;
            out.flush()
        }
        status => {
            if let Some(status) = status.status() {
                eprintln!("chat-client: {status}");
            }
            Ok(())
        }
    })
}

/// Copies stdin to the server line by line, once the name is accepted (a line sent
/// before would be taken for the name); the end of input quits as `/quit` does. Chat
/// lines are written to the transcript as the room sees them.
fn copy_stdin(link: &Link, out: &Mutex<io::Stdout>, timestamps: bool) {
    let session = link.wait_joined();
    if !session.is_joined() {
        return;
    }
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Some(local) = commands::local(&line) {
            // Answers to the client's own commands are the client's messages: stderr.
            for answer in commands::carry_out(link, &local) {
                match answer {
                    Answer::Notice(text) | Answer::Error(text) => {
                        eprintln!("chat-client: {text}");
                    }
                    Answer::Clear => {}
                }
            }
            continue;
        }
        // Sent and written under the transcript's lock: an answer read meanwhile is
        // written after one's own line, as the room saw them.
        let mut out = lock(out);
        match link.send(&line) {
            Ok(()) => {
                if let Ok(Command::Say(text)) = protocol::parse_line(&line) {
                    let name = link.session().name().to_string();
                    let text = protocol::sanitize(text);
                    let _ = writeln!(out, "{}{name}: {text}", timestamp(timestamps));
                    let _ = out.flush();
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                eprintln!("chat-client: not connected, line not sent: {line}");
            }
            // The reading side notices the lost connection and reports it.
            Err(err) => log::debug!("send failed: {}", describe(&err)),
        }
    }
    link.quit();
}
