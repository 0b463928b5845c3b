//! Printing while the line editor runs. Incoming lines go, in batches, through the
//! editor's external printer, which draws them above the prompt and then redraws the
//! prompt and whatever is being typed, so neither garbles the other.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chat_sync::{lock, wait_until};
use rustyline::ExternalPrinter;

use crate::ClientError;

/// Most lines handed to the editor at once; under a flood, lines that arrive while the
/// editor is busy are drawn together, with one redraw of the prompt.
const MAX_BATCH_LINES: usize = 256;

/// Lines waiting for the printer; when full, the thread reading the server waits, and TCP
/// slows the server down.
const QUEUE_LINES: usize = 4096;

/// How often the printer interrupts the editor after the connection is lost, until the
/// main thread has noticed (see [`Screen::lost`]).
const INTERRUPT_EVERY: Duration = Duration::from_millis(50);

/// Printed after the last lines when the connection is lost: it moves the cursor up and
/// back down, so it shows nothing, but the printer hands it over only once the editor
/// has taken (and drawn) the lines before it.
const FLUSH: &str = "\x1b[A\n";

enum Output {
    Text(String),
    Closed(Result<(), ClientError>),
}

/// Holds incoming lines back while the editor finishes a line (between the user pressing
/// Enter and the editor giving the line back), so that nothing is printed into the row
/// the finished line is drawn in.
#[derive(Default)]
pub struct Gate {
    paused: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    /// Holds printing back until [`Gate::resume`].
    pub fn pause(&self) {
        *lock(&self.paused) = true;
    }

    /// Lets printing go on.
    pub fn resume(&self) {
        *lock(&self.paused) = false;
        self.changed.notify_all();
    }

    fn wait_open(&self) {
        drop(wait_until(
            &self.changed,
            lock(&self.paused),
            None,
            |paused| !*paused,
        ));
    }
}

#[derive(Default)]
struct State {
    lost: Mutex<Option<ClientError>>,
    finished: Mutex<bool>,
    finished_changed: Condvar,
    acknowledged: AtomicBool,
}

/// The printing side of the terminal: a thread that owns the editor's external printer.
pub struct Screen {
    queue: SyncSender<Output>,
    gate: Arc<Gate>,
    state: Arc<State>,
}

/// A handle to queue lines from another thread.
#[derive(Clone)]
pub struct ScreenQueue {
    queue: SyncSender<Output>,
}

impl ScreenQueue {
    /// Queues one line (without its line ending) to print.
    pub fn show(&self, text: String) {
        let _ = self.queue.send(Output::Text(text));
    }

    /// Reports that the connection ended for good, after the lines already queued.
    pub fn closed(&self, result: Result<(), ClientError>) {
        let _ = self.queue.send(Output::Closed(result));
    }
}

impl Screen {
    /// Starts the printing thread.
    ///
    /// # Errors
    /// When the thread can't be started.
    pub fn start(printer: impl ExternalPrinter + Send + 'static) -> io::Result<Screen> {
        let (queue, receiver) = mpsc::sync_channel(QUEUE_LINES);
        let gate = Arc::new(Gate::default());
        let state = Arc::new(State::default());
        let (pump_gate, pump_state) = (Arc::clone(&gate), Arc::clone(&state));
        thread::Builder::new()
            .name("screen".into())
            .spawn(move || pump(receiver, printer, &pump_gate, &pump_state))?;
        Ok(Screen { queue, gate, state })
    }

    /// A handle for other threads to queue lines.
    pub fn queue(&self) -> ScreenQueue {
        ScreenQueue {
            queue: self.queue.clone(),
        }
    }

    /// Queues one line (without its line ending) to print.
    pub fn show(&self, text: String) {
        let _ = self.queue.send(Output::Text(text));
    }

    /// The gate the editor's helper closes when a line is finished.
    pub fn gate(&self) -> Arc<Gate> {
        Arc::clone(&self.gate)
    }

    /// The error that ended the connection, once everything before it was printed. From
    /// then on the printer keeps interrupting the editor (as Ctrl-C would), so a
    /// `readline` that is waiting for the user returns; the first call takes the error
    /// and stops that.
    pub fn lost(&self) -> Option<ClientError> {
        let lost = lock(&self.state.lost).take();
        if lost.is_some() {
            self.state.acknowledged.store(true, Ordering::SeqCst);
        }
        lost
    }

    /// Waits until everything up to the end of the connection was printed, at most
    /// `limit`. Returns whether it was.
    pub fn wait_finished(&self, limit: Duration) -> bool {
        let deadline = Some(Instant::now() + limit);
        let finished = lock(&self.state.finished);
        wait_until(&self.state.finished_changed, finished, deadline, |done| {
            *done
        })
        .1
    }
}

fn pump(receiver: Receiver<Output>, mut printer: impl ExternalPrinter, gate: &Gate, state: &State) {
    let mut batch = String::new();
    while let Ok(first) = receiver.recv() {
        let mut closed = None;
        let mut lines = 0;
        let mut next = Some(first);
        while let Some(output) = next {
            match output {
                Output::Text(text) => {
                    batch.push_str(&text);
                    batch.push('\n');
                    lines += 1;
                }
                Output::Closed(result) => {
                    closed = Some(result);
                    break;
                }
            }
            next = if lines < MAX_BATCH_LINES {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            print(&mut printer, gate, std::mem::take(&mut batch));
        }
        if let Some(result) = closed {
            finish(result, &mut printer, gate, state);
            return;
        }
    }
}

/// Prints through the editor: above the prompt while it reads a line, straight to the
/// terminal otherwise. Blocks while the editor has not taken the previous batch.
fn print(printer: &mut impl ExternalPrinter, gate: &Gate, text: String) {
    gate.wait_open();
    if let Err(err) = printer.print(text) {
        log::debug!("could not print: {err}");
    }
}

fn finish(
    result: Result<(), ClientError>,
    printer: &mut impl ExternalPrinter,
    gate: &Gate,
    state: &State,
) {
    let lost = result.is_err();
    if let Err(err) = result {
        print(printer, gate, FLUSH.to_string());
        *lock(&state.lost) = Some(err);
    }
    *lock(&state.finished) = true;
    state.finished_changed.notify_all();
    // The editor returns from `readline` only on a key or a signal. Its SIGINT handler,
    // installed while it reads, makes it return `Interrupted`; outside `readline` the
    // terminal module's handler just records the signal. Repeat until the main thread
    // has seen the error, in case a signal lands just before `readline` starts.
    while lost && !state.acknowledged.load(Ordering::SeqCst) {
        let me = rustix::process::getpid();
        if let Err(err) = rustix::process::kill_process(me, rustix::process::Signal::INT) {
            log::warn!("could not interrupt the line editor: {err}");
            return;
        }
        thread::sleep(INTERRUPT_EVERY);
    }
}
