//! The line editor's helper and key handlers: Tab completion, Ctrl-C and Ctrl-D, and the
//! way a finished line is shown.
//!
//! When Enter is pressed the editor redraws the line once more before it returns it. The
//! helper uses that last redraw to replace the prompt and the typed text with the line as
//! the room will see it (`[HH:MM] alice: hello`), so one's own line appears once, in the
//! scrollback, and never as typed input. Commands the server echoes (`/msg`, `/me`)
//! leave nothing; other commands stay, dimmed.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use chat_protocol::{self as protocol, Command, ParseError};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Cmd, ConditionalEventHandler, Context, Event, EventContext, Movement};
use rustyline::{Helper, RepeatCount};

use crate::complete;
use crate::link::Link;
use crate::screen::Gate;
use crate::style::Style;
use crate::timestamp;

/// The editor's helper for the chat prompt.
pub struct ChatHelper {
    link: Arc<Link>,
    style: Style,
    timestamps: bool,
    gate: Arc<Gate>,
    /// The finished line as it is to be shown, from Enter until `readline` returns.
    finished: RefCell<Option<String>>,
}

impl ChatHelper {
    /// A helper that completes from the link's session and pauses `gate` on Enter.
    pub fn new(link: Arc<Link>, style: Style, timestamps: bool, gate: Arc<Gate>) -> ChatHelper {
        ChatHelper {
            link,
            style,
            timestamps,
            gate,
            finished: RefCell::new(None),
        }
    }

    /// Forgets the finished line; call after each `readline`.
    pub fn reset(&self) {
        self.finished.replace(None);
    }

    /// How a line the user entered shows in the scrollback (empty: not at all).
    fn shown(&self, input: &str) -> String {
        let name = self.link.session().name().to_string();
        let stamp = timestamp(self.timestamps);
        let mut shown = Vec::new();
        for line in input.split('\n') {
            match protocol::parse_line(line) {
                Err(ParseError::Empty) | Ok(Command::Msg { .. } | Command::Me(_)) => {}
                Ok(Command::Say(text)) => {
                    let text = protocol::sanitize(text);
                    shown.push(self.style.own_chat(&stamp, &name, &text));
                }
                _ => shown.push(self.style.own_command(&stamp, line)),
            }
        }
        shown.join("\n")
    }
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let names = self.link.session().completion_names();
        let (start, replacements) = complete::complete(&line[..pos], &names);
        let candidates = replacements
            .into_iter()
            .map(|replacement| Pair {
                display: replacement.trim_end_matches([' ', ':']).to_string(),
                replacement,
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Validator for ChatHelper {
    /// Called on Enter, just before the editor returns the line: decides how it shows, and
    /// asks for the redraw (through a message, the only way a validator can) that shows it.
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        self.gate.pause();
        self.finished.replace(Some(self.shown(ctx.input())));
        // The message "\n" puts the end of the drawn line on the next row: the redraw
        // below ends there, so the editor's own newline after it adds no blank row.
        Ok(ValidationResult::Valid(Some("\n".to_string())))
    }
}

impl Highlighter for ChatHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        match &*self.finished.borrow() {
            Some(shown) => Cow::Owned(shown.clone()),
            None => Cow::Borrowed(line),
        }
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        if self.finished.borrow().is_some() {
            Cow::Borrowed("")
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        match &*self.finished.borrow() {
            // Nothing shown: stay on the same row, so the next prompt takes its place.
            Some(shown) if shown.is_empty() => Cow::Borrowed(""),
            Some(_) => Cow::Borrowed("\n"),
            None => Cow::Borrowed(hint),
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Helper for ChatHelper {}

/// Ctrl-C: clears the line, or on an empty line quits.
pub struct CtrlC {
    gate: Arc<Gate>,
}

/// Ctrl-D: on an empty line quits; otherwise deletes as usual.
pub struct CtrlD {
    gate: Arc<Gate>,
}

impl CtrlC {
    /// A handler that pauses `gate` when it ends the line.
    pub fn new(gate: Arc<Gate>) -> CtrlC {
        CtrlC { gate }
    }
}

impl CtrlD {
    /// A handler that pauses `gate` when it ends the line.
    pub fn new(gate: Arc<Gate>) -> CtrlD {
        CtrlD { gate }
    }
}

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            self.gate.pause();
            Some(Cmd::Interrupt)
        } else {
            Some(Cmd::Kill(Movement::WholeBuffer))
        }
    }
}

impl ConditionalEventHandler for CtrlD {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            self.gate.pause();
            Some(Cmd::EndOfFile)
        } else {
            None
        }
    }
}
