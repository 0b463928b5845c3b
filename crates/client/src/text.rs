//! Styled text and how it is laid out in rows: a line is a list of spans, each with its
//! SGR style; wrapping cuts it at the window's width by display columns (Korean and emoji
//! take two, combining marks none), and continuation rows are indented, so that nothing
//! in a line's text can start a row of its own. Pure, so it is tested by table.

use unicode_width::UnicodeWidthChar;

/// One piece of a line in one style (`sgr` is the SGR parameter list, empty for plain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub sgr: String,
    pub text: String,
}

/// A line of styled text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Styled {
    pub spans: Vec<Span>,
}

impl Styled {
    /// A line of plain `text`.
    pub fn plain(text: &str) -> Styled {
        let mut line = Styled::default();
        line.push("", text);
        line
    }

    /// Adds `text` in style `sgr`.
    pub fn push(&mut self, sgr: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.spans.last_mut() {
            Some(last) if last.sgr == sgr => last.text.push_str(text),
            _ => self.spans.push(Span {
                sgr: sgr.to_string(),
                text: text.to_string(),
            }),
        }
    }

    /// The text without styles.
    pub fn text(&self) -> String {
        self.spans.iter().map(|span| span.text.as_str()).collect()
    }

    /// Columns the line takes on one row.
    pub fn width(&self) -> usize {
        self.spans.iter().map(|span| width(&span.text)).sum()
    }

    /// The line as terminal output: SGR sequences around styled spans when `color`,
    /// plain text otherwise.
    pub fn encode(&self, color: bool, out: &mut String) {
        for span in &self.spans {
            if color && !span.sgr.is_empty() {
                out.push_str("\x1b[");
                out.push_str(&span.sgr);
                out.push('m');
                out.push_str(&span.text);
                out.push_str("\x1b[0m");
            } else {
                out.push_str(&span.text);
            }
        }
    }
}

/// How a character shows: `None` for one that must not reach the terminal (a control
/// character; the server removes them, and so does the client's reader, but nothing is
/// printed unchecked), a space for a tab, the character itself otherwise.
fn shown(c: char) -> Option<char> {
    match c {
        '\t' => Some(' '),
        c if c.is_control() => None,
        c => Some(c),
    }
}

/// Display columns of one character as shown (0 for what is not shown).
pub fn char_width(c: char) -> usize {
    shown(c).map_or(0, |c| c.width().unwrap_or(0))
}

/// Display columns of `text` as shown.
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// Cuts `line` into rows of at most `width` columns. Rows after the first start with
/// `indent` spaces (less if the window is too narrow to hold any text after them). A
/// character wider than the room left on a row goes to the next row; one wider than
/// the whole window gets a row of its own.
pub fn wrap(line: &Styled, width: usize, indent: usize) -> Vec<Styled> {
    let width = width.max(1);
    let indent = if indent + 4 <= width { indent } else { 0 };
    let mut rows = vec![Styled::default()];
    // Columns used on the current row, and where its text starts (after the indent).
    let (mut used, mut start) = (0, 0);
    for span in &line.spans {
        let mut piece = String::new();
        for c in span.text.chars().filter_map(shown) {
            let columns = c.width().unwrap_or(0);
            if used + columns > width && used > start {
                let row = rows.last_mut().expect("rows is never empty");
                row.push(&span.sgr, &std::mem::take(&mut piece));
                rows.push(Styled::plain(&" ".repeat(indent)));
                (used, start) = (indent, indent);
            }
            piece.push(c);
            used += columns;
        }
        let row = rows.last_mut().expect("rows is never empty");
        row.push(&span.sgr, &piece);
    }
    rows
}

/// Where the cursor is after `text`, laid out from column 0 as [`wrap`] lays it out
/// with no indent: `(row, column)`.
pub fn position(text: &str, width: usize) -> (usize, usize) {
    let width = width.max(1);
    let (mut row, mut used) = (0, 0);
    for c in text.chars() {
        let columns = char_width(c);
        if used + columns > width && used > 0 {
            row += 1;
            used = 0;
        }
        used += columns;
    }
    if used >= width {
        (row + 1, 0)
    } else {
        (row, used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[Styled]) -> Vec<String> {
        rows.iter().map(Styled::text).collect()
    }

    #[test]
    fn wraps_by_columns_and_indents_continuations() {
        let line = Styled::plain("[09:00] bob: one two three four");
        assert_eq!(
            texts(&wrap(&line, 16, 8)),
            ["[09:00] bob: one", "         two thr", "        ee four"]
        );
        assert_eq!(
            texts(&wrap(&line, 100, 8)),
            ["[09:00] bob: one two three four"]
        );
    }

    #[test]
    fn wide_characters_keep_their_columns() {
        let line = Styled::plain("민수: 안녕하세요");
        let rows = wrap(&line, 9, 2);
        assert_eq!(texts(&rows), ["민수: 안", "  녕하세", "  요"]);
        assert!(rows.iter().all(|row| row.width() <= 9));
        assert_eq!(width("a😀b"), 4);
    }

    #[test]
    fn continuation_rows_never_start_in_the_first_column() {
        let forged = format!("[00:00] eve: {}[00:00] * alice quit", " ".repeat(107));
        for width in [20, 50, 80, 100, 120] {
            let rows = wrap(&Styled::plain(&forged), width, 8);
            for row in &rows[1..] {
                assert!(
                    row.text().starts_with("        "),
                    "{width}: {:?}",
                    texts(&rows)
                );
            }
        }
    }

    #[test]
    fn controls_are_never_shown_and_tabs_are_spaces() {
        let line = Styled::plain("a\x1b[31mb\tc\u{7}");
        assert_eq!(texts(&wrap(&line, 80, 0)), ["a[31mb c"]);
        assert_eq!(width("\x1b\u{7}"), 0);
    }

    #[test]
    fn styles_survive_a_cut() {
        let mut line = Styled::default();
        line.push("1", "abcdef");
        let rows = wrap(&line, 4, 0);
        assert_eq!(rows[1].spans[0].sgr, "1");
        let mut out = String::new();
        rows[1].encode(true, &mut out);
        assert_eq!(out, "\x1b[1mef\x1b[0m");
    }

    #[test]
    fn cursor_position_follows_wide_characters() {
        assert_eq!(position("abc", 10), (0, 3));
        assert_eq!(position("abcd", 4), (1, 0));
        assert_eq!(position("abc한", 4), (1, 2));
    }
}
