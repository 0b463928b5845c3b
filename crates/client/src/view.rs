//! What the terminal shows, computed from scratch for each size: the chat (the lines
//! kept, wrapped at the window's width, scrolled back by Page Up), the line being typed
//! under it, and a status row (completions, the history search, news below). Pure: the
//! terminal module writes the rows this returns, so a resize is a new layout, never a
//! patch of the old one.

use std::collections::VecDeque;

use crate::text::{self, Styled};

/// Lines kept for scrolling back; older ones are forgotten.
pub const MAX_LINES: usize = 10_000;

/// Most rows the status may take (a long list of completions wraps).
const MAX_STATUS_ROWS: usize = 3;

/// How a line break in the typed text (from a paste) shows in the input rows.
const SHOWN_BREAK: &str = "↵";

/// The chat lines and how far back they are scrolled.
#[derive(Debug, Default)]
pub struct View {
    lines: VecDeque<Styled>,
    /// Lines hidden below the bottom of the chat area (0: following new lines).
    scroll: usize,
    /// Columns by which continuation rows of a line are indented.
    indent: usize,
}

/// One screenful: each row as terminal output, and where the cursor goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub rows: Vec<String>,
    /// Column and row, from 0.
    pub cursor: (usize, usize),
}

/// What is drawn under the chat.
pub struct Input<'a> {
    pub prompt: Styled,
    pub line: &'a str,
    pub before_cursor: &'a str,
    pub status: Option<Styled>,
}

impl View {
    /// An empty view whose wrapped lines continue `indent` columns in.
    pub fn new(indent: usize) -> View {
        View {
            indent,
            ..View::default()
        }
    }

    /// Adds a line at the bottom. While scrolled back, the view stays where it is.
    pub fn push(&mut self, line: Styled) {
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
        if self.scroll > 0 {
            self.scroll = (self.scroll + 1).min(self.lines.len());
        }
    }

    /// Forgets every line (`/clear`, Ctrl-L).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.scroll = 0;
    }

    /// Scrolls back (`up`) or forward by about `rows` rows at `width`.
    pub fn scroll(&mut self, up: bool, rows: usize, width: usize) {
        let rows = rows.max(1);
        let mut moved = 0;
        if up {
            while self.scroll < self.lines.len().saturating_sub(1) && moved < rows {
                let index = self.lines.len() - 1 - self.scroll;
                moved += text::wrap(&self.lines[index], width, self.indent).len();
                self.scroll += 1;
            }
        } else {
            while self.scroll > 0 && moved < rows {
                self.scroll -= 1;
                let index = self.lines.len() - 1 - self.scroll;
                moved += text::wrap(&self.lines[index], width, self.indent).len();
            }
        }
    }

    /// Lays out a `width` x `height` screen: as many chat rows as fit, the newest at the
    /// bottom, then the input rows, then the status row.
    pub fn render(&self, width: usize, height: usize, color: bool, input: &Input) -> Frame {
        let (width, height) = (width.max(1), height.max(1));
        let mut typed = input.prompt.clone();
        typed.push("", &input.line.replace('\n', SHOWN_BREAK));
        let mut input_rows = text::wrap(&typed, width, 0);
        let before = format!(
            "{}{}",
            input.prompt.text(),
            input.before_cursor.replace('\n', SHOWN_BREAK)
        );
        let (mut cursor_row, cursor_column) = text::position(&before, width);
        if cursor_row == input_rows.len() {
            input_rows.push(Styled::default());
        }
        // A draft taller than the screen shows the rows up to the cursor's.
        let room = height.saturating_sub(1).max(1);
        if input_rows.len() > room {
            let first = (cursor_row + 1).saturating_sub(room);
            input_rows = input_rows.split_off(first);
            input_rows.truncate(room);
            cursor_row -= first;
        }

        let status = match (&input.status, self.scroll) {
            (Some(status), _) => Some(status.clone()),
            (None, 0) => None,
            (None, below) => {
                let mut line = Styled::default();
                line.push("7", &format!("-- {below} more below (Page Down) --"));
                Some(line)
            }
        };
        let status_rows = match &status {
            Some(status) if height > input_rows.len() => {
                // At most half of what is left, so the chat keeps most of a small window.
                let room = ((height - input_rows.len()) / 2).clamp(1, MAX_STATUS_ROWS);
                let mut rows = text::wrap(status, width, 0);
                if rows.len() > room {
                    rows.truncate(room);
                    let mut last = rows.pop().unwrap_or_default();
                    last.push("", " …");
                    rows.push(cut(&last, width));
                }
                rows
            }
            _ => Vec::new(),
        };

        let chat_height = height - input_rows.len() - status_rows.len();
        let mut chat_rows: Vec<Styled> = Vec::new();
        let shown = self.lines.len() - self.scroll;
        for line in self.lines.range(..shown).rev() {
            if chat_rows.len() >= chat_height {
                break;
            }
            let rows = text::wrap(line, width, self.indent);
            chat_rows.extend(rows.into_iter().rev());
        }
        chat_rows.truncate(chat_height);
        chat_rows.reverse();

        let cursor = (cursor_column, chat_rows.len() + cursor_row);
        let mut rows: Vec<String> = chat_rows
            .iter()
            .chain(&input_rows)
            .chain(&status_rows)
            .map(|row| {
                let mut out = String::new();
                row.encode(color, &mut out);
                out
            })
            .collect();
        rows.resize(height, String::new());
        Frame { rows, cursor }
    }
}

/// `line` cut to one row of `width` columns, ending in `…` when it was longer.
fn cut(line: &Styled, width: usize) -> Styled {
    if line.width() <= width {
        return line.clone();
    }
    let mut out = Styled::default();
    let mut used = 0;
    for span in &line.spans {
        for c in span.text.chars() {
            let columns = text::char_width(c);
            if used + columns + 1 > width {
                out.push(&span.sgr, "…");
                return out;
            }
            out.push(&span.sgr, c.encode_utf8(&mut [0; 4]));
            used += columns;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(line: &'a str, status: Option<&str>) -> Input<'a> {
        Input {
            prompt: Styled::plain("me> "),
            line,
            before_cursor: line,
            status: status.map(Styled::plain),
        }
    }

    fn plain(frame: &Frame) -> Vec<&str> {
        frame.rows.iter().map(String::as_str).collect()
    }

    #[test]
    fn chat_fills_from_the_top_then_scrolls() {
        let mut view = View::new(2);
        view.push(Styled::plain("one"));
        view.push(Styled::plain("two"));
        let frame = view.render(10, 4, false, &input("hi", None));
        assert_eq!(plain(&frame), ["one", "two", "me> hi", ""]);
        assert_eq!(frame.cursor, (6, 2));
        view.push(Styled::plain("three is long"));
        let frame = view.render(10, 4, false, &input("hi", None));
        assert_eq!(plain(&frame), ["two", "three is l", "  ong", "me> hi"]);
    }

    #[test]
    fn a_long_draft_wraps_and_the_cursor_follows() {
        let view = View::new(2);
        let line = "a".repeat(15);
        let frame = view.render(10, 5, false, &input(&line, None));
        assert_eq!(plain(&frame)[..3], ["me> aaaaaa", "aaaaaaaaa", ""]);
        assert_eq!(frame.cursor, (9, 1));
        let line = "a".repeat(16);
        let frame = view.render(10, 5, false, &input(&line, None));
        assert_eq!(frame.cursor, (0, 2));
    }

    #[test]
    fn status_row_goes_under_the_input_and_never_into_the_chat() {
        let mut view = View::new(0);
        view.push(Styled::plain("one"));
        let frame = view.render(12, 3, false, &input("/w", Some("/w  /whisper  /who")));
        assert_eq!(plain(&frame), ["one", "me> /w", "/w  /whispe…"]);
        let frame = view.render(12, 5, false, &input("/w", Some("/w  /whisper  /who")));
        assert_eq!(
            plain(&frame),
            ["one", "me> /w", "/w  /whisper", "  /who", ""]
        );
        let frame = view.render(12, 3, false, &input("/w ", None));
        assert_eq!(plain(&frame), ["one", "me> /w ", ""]);
    }

    #[test]
    fn page_up_scrolls_back_and_new_lines_keep_the_view() {
        let mut view = View::new(0);
        for index in 0..10 {
            view.push(Styled::plain(&format!("line {index}")));
        }
        view.scroll(true, 3, 20);
        let frame = view.render(20, 4, false, &input("", None));
        assert_eq!(
            plain(&frame),
            ["line 5", "line 6", "me> ", "-- 3 more below (Pa…"]
        );
        view.push(Styled::plain("line 10"));
        let frame = view.render(20, 4, false, &input("", None));
        assert_eq!(plain(&frame)[..2], ["line 5", "line 6"]);
        view.scroll(false, 100, 20);
        let frame = view.render(20, 4, false, &input("", None));
        assert_eq!(plain(&frame), ["line 8", "line 9", "line 10", "me> "]);
    }

    #[test]
    fn every_size_gets_a_whole_layout() {
        let mut view = View::new(2);
        for index in 0..50 {
            view.push(Styled::plain(&format!(
                "line {index} {}",
                "x".repeat(index)
            )));
        }
        let draft = "d".repeat(150);
        for (width, height) in [(1, 1), (5, 2), (50, 30), (120, 30), (100, 3)] {
            let frame = view.render(width, height, false, &input(&draft, None));
            assert_eq!(frame.rows.len(), height);
            assert!(frame.cursor.1 < height && frame.cursor.0 <= width);
            for row in &frame.rows {
                assert!(text::width(row) <= width, "{width}x{height}: {row:?}");
            }
        }
    }
}
