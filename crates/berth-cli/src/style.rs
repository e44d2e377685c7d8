//! How `demo` and `doctor` dress their human output: colour and in-place updates only when
//! stdout is a terminal (and `NO_COLOR` is unset), plain text otherwise.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// stdout is a terminal: status lines may be redrawn in place.
    pub terminal: bool,
    /// ANSI colours are allowed.
    pub colour: bool,
}

impl Style {
    pub fn detect() -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            terminal,
            colour: terminal && !no_colour,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// `text` cut to at most `max` characters, with `…` when cut.
#[cfg(feature = "demo")]
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` padded with spaces to `width` characters (ANSI-free text only).
#[cfg(feature = "demo")]
pub fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n >= width {
        text.to_string()
    } else {
        format!("{text}{}", " ".repeat(width - n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_adds_no_escapes() {
        let s = Style {
            terminal: false,
            colour: false,
        };
        assert_eq!(s.red("x"), "x");
        let c = Style {
            terminal: true,
            colour: true,
        };
        assert_eq!(c.green("ok"), "\x1b[32mok\x1b[0m");
    }

    #[test]
    #[cfg(feature = "demo")]
    fn clip_and_pad_count_characters() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(pad("✓ a", 5), "✓ a  ");
    }
}
