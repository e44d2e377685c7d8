//! Command lines split as Python's `shlex.split` does (the SDK's `entrypoint` string form).

/// Splits a command line as Python's `shlex.split` does (POSIX mode, no comments): blanks
/// separate words, `'...'` is literal, `"..."` lets `\` escape only `"` and `\`, a `\`
/// outside quotes escapes any character, and adjacent quoted parts join one word.
pub fn shell_split(s: &str) -> std::result::Result<Vec<String>, &'static str> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Single,
        Double,
        Escape { in_double: bool },
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut state = State::Between;
    for c in s.chars() {
        state = match state {
            State::Between | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if !word.is_empty() || quoted {
                        words.push(std::mem::take(&mut word));
                        quoted = false;
                    }
                    State::Between
                }
                '\\' => State::Escape { in_double: false },
                '\'' => {
                    quoted = true;
                    State::Single
                }
                '"' => {
                    quoted = true;
                    State::Double
                }
                _ => {
                    word.push(c);
                    State::Word
                }
            },
            State::Single => {
                if c == '\'' {
                    State::Word
                } else {
                    word.push(c);
                    State::Single
                }
            }
            State::Double => match c {
                '"' => State::Word,
                '\\' => State::Escape { in_double: true },
                _ => {
                    word.push(c);
                    State::Double
                }
            },
            State::Escape { in_double } => {
                if in_double && c != '"' && c != '\\' {
                    word.push('\\');
                }
                word.push(c);
                if in_double {
                    State::Double
                } else {
                    State::Word
                }
            }
        };
    }
    match state {
        State::Single | State::Double => Err("No closing quotation"),
        State::Escape { .. } => Err("No escaped character"),
        State::Between | State::Word => {
            if !word.is_empty() || quoted {
                words.push(word);
            }
            Ok(words)
        }
    }
}
