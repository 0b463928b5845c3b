//! Where a server line is written: a `Formatter` (for `Display`) or a byte buffer (for the
//! server's queues). One writing routine serves both, and on a buffer the common lines are
//! copied in piece by piece, without the formatting machinery: cheaper, and a shallower
//! stack on every connection thread.

use std::fmt::{self, Display};
use std::io::Write;

/// A destination for the pieces of a line.
pub(crate) trait Out {
    /// Appends text.
    fn put(&mut self, text: &str) -> fmt::Result;

    /// Appends a number in decimal.
    fn put_number(&mut self, number: usize) -> fmt::Result {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = number;
        loop {
            start -= 1;
            // A remainder of ten is one digit.
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        // Only ASCII digits were written.
        self.put(std::str::from_utf8(&digits[start..]).unwrap_or_default())
    }

    /// Appends anything that displays (for the rarer pieces: quoted input, reasons).
    fn put_display(&mut self, value: &dyn Display) -> fmt::Result;
}

impl Out for fmt::Formatter<'_> {
    fn put(&mut self, text: &str) -> fmt::Result {
        self.write_str(text)
    }

    fn put_display(&mut self, value: &dyn Display) -> fmt::Result {
        value.fmt(self)
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, text: &str) -> fmt::Result {
        self.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn put_display(&mut self, value: &dyn Display) -> fmt::Result {
        write!(self, "{value}").map_err(|_| fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal() {
        for number in [0, 7, 10, 4096, usize::MAX] {
            let mut out = Vec::new();
            out.put_number(number).expect("write");
            assert_eq!(out, number.to_string().as_bytes());
        }
    }
}
