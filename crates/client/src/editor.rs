//! The line being typed: the text and the cursor, Emacs-style editing keys, the input
//! history (Up, Down, Ctrl-R) and Tab completion. Pure: keys go in, what to do comes
//! out, and the terminal module draws it, so it is tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::complete::{self, Known};

/// What a key asks the terminal loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The line changed or the cursor moved (or nothing happened): redraw.
    Redraw,
    /// Enter: send this (possibly several lines, if pasted).
    Submit(String),
    /// Ctrl-C or Ctrl-D on an empty line.
    Quit,
    /// Ctrl-L.
    Clear,
    /// Page Up / Page Down: scroll the chat.
    PageUp,
    PageDown,
}

/// A history search in progress (Ctrl-R).
#[derive(Debug, Clone, Default)]
struct Search {
    query: String,
    /// The history index of the match shown.
    found: Option<usize>,
}

/// Candidates being offered by Tab.
#[derive(Debug, Clone)]
struct Offer {
    /// Where the completed word starts.
    start: usize,
    candidates: Vec<String>,
    /// Which candidate is in the line, once Tab is pressed again.
    chosen: Option<usize>,
}

/// The line editor.
#[derive(Debug, Default)]
pub struct Editor {
    line: String,
    /// Byte index of the cursor in `line`, always on a character boundary.
    cursor: usize,
    /// What Ctrl-W, Ctrl-U and Ctrl-K took, for Ctrl-Y.
    killed: String,
    history: Vec<String>,
    /// The history entry shown by Up/Down, and the line typed before browsing.
    browsing: Option<(usize, String)>,
    search: Option<Search>,
    offer: Option<Offer>,
}

impl Editor {
    /// An empty line with `history` (oldest first).
    pub fn new(history: Vec<String>) -> Editor {
        Editor {
            history,
            ..Editor::default()
        }
    }

    /// The text being typed.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The text before the cursor.
    pub fn before_cursor(&self) -> &str {
        &self.line[..self.cursor]
    }

    /// Adds a sent line to the history (not an empty one, one starting with a space, or
    /// the same as the last).
    pub fn remember(&mut self, line: &str) -> bool {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || self.history.last().is_some_and(|last| last == line)
        {
            return false;
        }
        self.history.push(line.to_string());
        true
    }

    /// What the status row should say while searching or offering completions.
    pub fn status(&self) -> Option<String> {
        if let Some(search) = &self.search {
            let found = search
                .found
                .map_or("", |index| self.history[index].as_str());
            return Some(format!("(reverse-i-search)'{}': {found}", search.query));
        }
        let offer = self.offer.as_ref()?;
        (offer.candidates.len() > 1).then(|| {
            offer
                .candidates
                .iter()
                .map(|candidate| candidate.trim_end_matches([' ', ':']))
                .collect::<Vec<_>>()
                .join("  ")
        })
    }

    /// Inserts pasted text as it is (line breaks included: Enter sends each line).
    pub fn paste(&mut self, text: &str) {
        self.settle();
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        self.insert(&text);
    }

    /// Handles one key; `known` is what Tab may complete.
    pub fn key(&mut self, key: KeyEvent, known: impl FnOnce() -> Known) -> Outcome {
        if self.search.is_some()
            && let Some(outcome) = self.search_key(key)
        {
            return outcome;
        }
        let tab = key.code == KeyCode::Tab;
        if !tab {
            self.offer = None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter => {
                self.browsing = None;
                self.cursor = 0;
                return Outcome::Submit(std::mem::take(&mut self.line));
            }
            KeyCode::Tab => self.complete(known()),
            KeyCode::Char(c) if ctrl => return self.control(c),
            KeyCode::Char('b') if alt => self.cursor = self.word_start(),
            KeyCode::Char('f') if alt => self.cursor = self.word_end(),
            KeyCode::Char('d') if alt => {
                let end = self.word_end();
                self.kill(self.cursor..end);
            }
            KeyCode::Char(c) => {
                self.settle();
                self.insert(c.encode_utf8(&mut [0; 4]));
            }
            KeyCode::Backspace if alt => {
                let start = self.word_start();
                self.kill(start..self.cursor);
            }
            KeyCode::Backspace => {
                if let Some(previous) = self.previous_boundary() {
                    self.line.replace_range(previous..self.cursor, "");
                    self.cursor = previous;
                }
            }
            KeyCode::Delete => self.delete_forward(),
            KeyCode::Left if ctrl || alt => self.cursor = self.word_start(),
            KeyCode::Right if ctrl || alt => self.cursor = self.word_end(),
            KeyCode::Left => self.cursor = self.previous_boundary().unwrap_or(0),
            KeyCode::Right => self.cursor = self.next_boundary().unwrap_or(self.line.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.line.len(),
            KeyCode::Up => self.browse_back(),
            KeyCode::Down => self.browse_forward(),
            KeyCode::PageUp => return Outcome::PageUp,
            KeyCode::PageDown => return Outcome::PageDown,
            _ => {}
        }
        Outcome::Redraw
    }

    fn control(&mut self, c: char) -> Outcome {
        match c.to_ascii_lowercase() {
            'a' => self.cursor = 0,
            'e' => self.cursor = self.line.len(),
            'b' => self.cursor = self.previous_boundary().unwrap_or(0),
            'f' => self.cursor = self.next_boundary().unwrap_or(self.line.len()),
            'c' if self.line.is_empty() => return Outcome::Quit,
            'c' => {
                self.line.clear();
                self.cursor = 0;
                self.browsing = None;
            }
            'd' if self.line.is_empty() => return Outcome::Quit,
            'd' => self.delete_forward(),
            'h' => {
                return self.key(
                    KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
                    Known::default,
                );
            }
            'w' => {
                let start = self.word_start();
                self.kill(start..self.cursor);
            }
            'u' => self.kill(0..self.cursor),
            'k' => self.kill(self.cursor..self.line.len()),
            'y' => {
                let killed = self.killed.clone();
                self.insert(&killed);
            }
            'p' => self.browse_back(),
            'n' => self.browse_forward(),
            'r' => {
                self.search = Some(Search::default());
            }
            'l' => return Outcome::Clear,
            _ => {}
        }
        Outcome::Redraw
    }

    /// A key while searching. `None`: the search ended, and the key is handled as usual.
    fn search_key(&mut self, key: KeyEvent) -> Option<Outcome> {
        let search = self.search.as_mut()?;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('r') if ctrl => {
                let before = search.found.unwrap_or(self.history.len());
                search.found = find_back(&self.history, &search.query, before).or(search.found);
            }
            KeyCode::Char('g' | 'c') if ctrl => {
                self.search = None;
            }
            KeyCode::Esc => self.search = None,
            KeyCode::Char(c) if !ctrl => {
                search.query.push(c);
                let before = search.found.map_or(self.history.len(), |index| index + 1);
                search.found = find_back(&self.history, &search.query, before);
            }
            KeyCode::Backspace => {
                search.query.pop();
                search.found = find_back(&self.history, &search.query, self.history.len());
            }
            _ => {
                // Any other key takes the match into the line and acts as usual.
                if let Some(index) = search.found {
                    self.line = self.history[index].clone();
                    self.cursor = self.line.len();
                }
                self.search = None;
                return None;
            }
        }
        Some(Outcome::Redraw)
    }

    fn complete(&mut self, known: Known) {
        if let Some(offer) = &mut self.offer
            && offer.candidates.len() > 1
        {
            // Tab again: put the next candidate in the line.
            let next = offer
                .chosen
                .map_or(0, |chosen| (chosen + 1) % offer.candidates.len());
            offer.chosen = Some(next);
            let candidate = offer.candidates[next].clone();
            let start = offer.start;
            self.line.replace_range(start..self.cursor, &candidate);
            self.cursor = start + candidate.len();
            return;
        }
        let (start, candidates) = complete::complete(self.before_cursor(), &known);
        let insert = match candidates.len() {
            0 => return,
            1 => candidates[0].clone(),
            _ => complete::common_prefix(&candidates).to_string(),
        };
        let typed = &self.line[start..self.cursor];
        if insert.len() >= typed.len() {
            self.line.replace_range(start..self.cursor, &insert);
            self.cursor = start + insert.len();
        }
        if candidates.len() > 1 {
            self.offer = Some(Offer {
                start,
                candidates,
                chosen: None,
            });
        }
    }

    /// Leaves history browsing for good: the line shown becomes the line typed.
    fn settle(&mut self) {
        self.browsing = None;
    }

    fn insert(&mut self, text: &str) {
        self.line.insert_str(self.cursor, text);
        self.cursor += text.len();
    }

    fn kill(&mut self, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.killed = self.line[range.clone()].to_string();
        self.cursor = range.start;
        self.line.replace_range(range, "");
    }

    fn delete_forward(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.line.replace_range(self.cursor..next, "");
        }
    }

    fn previous_boundary(&self) -> Option<usize> {
        self.line[..self.cursor]
            .char_indices()
            .next_back()
            .map(|(index, _)| index)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.line[self.cursor..]
            .chars()
            .next()
            .map(|c| self.cursor + c.len_utf8())
    }

    /// Start of the word before the cursor (skipping spaces first).
    fn word_start(&self) -> usize {
        let before = &self.line[..self.cursor];
        let trimmed = before.trim_end_matches(char::is_whitespace);
        trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(index, c)| index + c.len_utf8())
    }

    /// End of the word after the cursor (skipping spaces first).
    fn word_end(&self) -> usize {
        let after = &self.line[self.cursor..];
        let skipped = after.len() - after.trim_start_matches(char::is_whitespace).len();
        let rest = &after[skipped..];
        let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.cursor + skipped + word
    }

    fn browse_back(&mut self) {
        let index = match &self.browsing {
            Some((0, _)) => return,
            Some((index, _)) => index - 1,
            None if self.history.is_empty() => return,
            None => self.history.len() - 1,
        };
        let typed = match self.browsing.take() {
            Some((_, typed)) => typed,
            None => std::mem::take(&mut self.line),
        };
        self.browsing = Some((index, typed));
        self.line = self.history[index].clone();
        self.cursor = self.line.len();
    }

    fn browse_forward(&mut self) {
        let Some((index, typed)) = self.browsing.take() else {
            return;
        };
        if index + 1 < self.history.len() {
            self.line = self.history[index + 1].clone();
            self.browsing = Some((index + 1, typed));
        } else {
            self.line = typed;
        }
        self.cursor = self.line.len();
    }
}

/// The latest history entry before `before` that contains `query`.
fn find_back(history: &[String], query: &str, before: usize) -> Option<usize> {
    if query.is_empty() {
        return None;
    }
    history[..before.min(history.len())]
        .iter()
        .rposition(|entry| entry.contains(query))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(editor: &mut Editor, code: KeyCode) -> Outcome {
        editor.key(KeyEvent::new(code, KeyModifiers::NONE), Known::default)
    }

    fn ctrl(editor: &mut Editor, c: char) -> Outcome {
        editor.key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            Known::default,
        )
    }

    fn typed(editor: &mut Editor, text: &str) {
        for c in text.chars() {
            press(editor, KeyCode::Char(c));
        }
    }

    #[test]
    fn emacs_keys_edit_the_line() {
        let mut editor = Editor::default();
        typed(&mut editor, "hello big world");
        ctrl(&mut editor, 'w');
        assert_eq!(editor.line(), "hello big ");
        ctrl(&mut editor, 'y');
        assert_eq!(editor.line(), "hello big world");
        ctrl(&mut editor, 'a');
        ctrl(&mut editor, 'k');
        assert_eq!(editor.line(), "");
        ctrl(&mut editor, 'y');
        typed(&mut editor, "!");
        press(&mut editor, KeyCode::Home);
        press(&mut editor, KeyCode::Delete);
        assert_eq!(editor.line(), "ello big world!");
        press(&mut editor, KeyCode::End);
        press(&mut editor, KeyCode::Backspace);
        ctrl(&mut editor, 'u');
        assert_eq!(editor.line(), "");
        assert_eq!(ctrl(&mut editor, 'd'), Outcome::Quit);
        typed(&mut editor, "x");
        assert_eq!(ctrl(&mut editor, 'c'), Outcome::Redraw);
        assert_eq!(ctrl(&mut editor, 'c'), Outcome::Quit);
    }

    #[test]
    fn wide_characters_are_edited_whole() {
        let mut editor = Editor::default();
        typed(&mut editor, "민수😀");
        press(&mut editor, KeyCode::Left);
        press(&mut editor, KeyCode::Backspace);
        assert_eq!(editor.line(), "민😀");
        assert_eq!(editor.before_cursor(), "민");
    }

    #[test]
    fn history_browses_and_keeps_the_typed_line() {
        let mut editor = Editor::new(vec!["one".into(), "two".into()]);
        typed(&mut editor, "draft");
        press(&mut editor, KeyCode::Up);
        assert_eq!(editor.line(), "two");
        press(&mut editor, KeyCode::Up);
        press(&mut editor, KeyCode::Up);
        assert_eq!(editor.line(), "one");
        press(&mut editor, KeyCode::Down);
        press(&mut editor, KeyCode::Down);
        assert_eq!(editor.line(), "draft");
        assert!(!editor.remember(" secret"));
        assert!(editor.remember("three"));
        assert!(!editor.remember("three"));
    }

    #[test]
    fn ctrl_r_finds_earlier_lines() {
        let mut editor = Editor::new(vec!["deploy at noon".into(), "lunch?".into()]);
        ctrl(&mut editor, 'r');
        typed(&mut editor, "dep");
        assert_eq!(
            editor.status().as_deref(),
            Some("(reverse-i-search)'dep': deploy at noon")
        );
        assert_eq!(
            press(&mut editor, KeyCode::Enter),
            Outcome::Submit("deploy at noon".into())
        );
    }

    #[test]
    fn tab_completes_then_offers_then_cycles() {
        let known = || Known {
            names: vec!["bob".into(), "Bobby".into()],
            ..Known::default()
        };
        let mut editor = Editor::default();
        typed(&mut editor, "hi b");
        let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
        editor.key(tab, known);
        assert_eq!(editor.line(), "hi bob");
        assert_eq!(editor.status().as_deref(), Some("bob  Bobby"));
        editor.key(tab, known);
        assert_eq!(editor.line(), "hi bob ");
        editor.key(tab, known);
        assert_eq!(editor.line(), "hi Bobby ");
        typed(&mut editor, "x");
        assert_eq!(editor.status(), None);
    }

    #[test]
    fn pasted_lines_are_submitted_together() {
        let mut editor = Editor::default();
        editor.paste("one\r\ntwo");
        assert_eq!(
            press(&mut editor, KeyCode::Enter),
            Outcome::Submit("one\ntwo".into())
        );
        assert_eq!(editor.line(), "");
    }
}
