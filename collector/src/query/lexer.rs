//! Scanning the query text: the parser pulls tokens from a [`Cursor`] and says which kind it expects.
//!
//! Two kinds of words exist because values need characters that names must not take: a field name
//! is `[A-Za-z0-9_.]+`, but a bare value runs until whitespace, `(`, `)`, `,` or `"`, so versions
//! (`1:2.3~rc1-4`), networks (`10.1.0.0/16`), timestamps and globs need no quotes. Quoted strings
//! take the escapes `\"`, `\\`, `\n`, `\t` and `\r`. Positions are byte offsets into the input.

use super::ast::Op;
use super::parser::ParseError;

/// A value as written: bare or quoted (a bare `null` means "no value", a quoted one is the word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawValue {
    pub text: String,
    pub quoted: bool,
    pub start: usize,
}

pub(crate) struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn is_bare_value_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | ',' | '"')
}

impl<'a> Cursor<'a> {
    pub fn new(input: &'a str) -> Self {
        Self { input, pos: 0 }
    }

    /// The position of the next token (after whitespace).
    pub fn pos(&mut self) -> usize {
        self.skip_whitespace();
        self.pos
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.pos == self.input.len()
    }

    pub fn peek(&mut self) -> Option<char> {
        self.skip_whitespace();
        self.rest().chars().next()
    }

    /// A short description of the next token, for error messages.
    pub fn describe_next(&mut self) -> String {
        self.skip_whitespace();
        let rest = self.rest();
        match rest.chars().next() {
            None => "the end of the query".to_string(),
            Some(c) if is_name_char(c) => {
                let word: String = rest
                    .chars()
                    .take_while(|&c| is_bare_value_char(c))
                    .take(30)
                    .collect();
                format!("'{word}'")
            }
            Some(c) => format!("'{c}'"),
        }
    }

    /// Consumes `c` if it is the next character.
    pub fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// The name-like word at the cursor, without consuming it.
    fn peek_name(&mut self) -> &'a str {
        self.skip_whitespace();
        let rest = self.rest();
        let length = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        &rest[..length]
    }

    /// Whether the next word is `keyword` (any case).
    pub fn peek_keyword(&mut self, keyword: &str) -> bool {
        self.peek_name().eq_ignore_ascii_case(keyword)
    }

    pub fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.pos += keyword.len();
        }
        found
    }

    /// A field name (or `package`, a qualifier name): its start and text.
    pub fn name(&mut self) -> Option<(usize, &'a str)> {
        let name = self.peek_name();
        if name.is_empty() {
            return None;
        }
        let start = self.pos;
        self.pos += name.len();
        Some((start, name))
    }

    /// A comparison operator (`in` is a keyword, read by the parser).
    pub fn op(&mut self) -> Option<Op> {
        self.skip_whitespace();
        let rest = self.rest();
        let (op, length) = if rest.starts_with("!=") {
            (Op::Ne, 2)
        } else if rest.starts_with("<=") {
            (Op::Le, 2)
        } else if rest.starts_with(">=") {
            (Op::Ge, 2)
        } else if rest.starts_with("==") {
            (Op::Eq, 2)
        } else {
            match rest.chars().next()? {
                '=' => (Op::Eq, 1),
                '<' => (Op::Lt, 1),
                '>' => (Op::Gt, 1),
                '~' => (Op::Glob, 1),
                _ => return None,
            }
        };
        self.pos += length;
        Some(op)
    }

    /// A bare or quoted value; `Ok(None)` when the next character cannot start one.
    pub fn value(&mut self) -> Result<Option<RawValue>, ParseError> {
        self.skip_whitespace();
        let start = self.pos;
        let mut chars = self.rest().char_indices();
        match chars.next() {
            Some((_, '"')) => {
                let mut text = String::new();
                while let Some((offset, c)) = chars.next() {
                    match c {
                        '"' => {
                            self.pos = start + offset + 1;
                            return Ok(Some(RawValue {
                                text,
                                quoted: true,
                                start,
                            }));
                        }
                        '\\' => match chars.next() {
                            Some((_, '"')) => text.push('"'),
                            Some((_, '\\')) => text.push('\\'),
                            Some((_, 'n')) => text.push('\n'),
                            Some((_, 't')) => text.push('\t'),
                            Some((_, 'r')) => text.push('\r'),
                            Some((_, other)) => {
                                return Err(ParseError::new(
                                    start + offset,
                                    format!(
                                        "unknown escape '\\{other}' in a quoted string (use \\\", \\\\, \\n, \\t or \\r)"
                                    ),
                                ));
                            }
                            None => break,
                        },
                        c => text.push(c),
                    }
                }
                Err(ParseError::new(
                    start,
                    "this quoted string is not closed: add a '\"' at its end",
                ))
            }
            Some((_, c)) if is_bare_value_char(c) => {
                let rest = self.rest();
                let length = rest
                    .find(|c: char| !is_bare_value_char(c))
                    .unwrap_or(rest.len());
                self.pos += length;
                Ok(Some(RawValue {
                    text: rest[..length].to_string(),
                    quoted: false,
                    start,
                }))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_values_keep_version_network_and_glob_characters() {
        let mut cursor = Cursor::new("  1:2.3~rc1-4 10.1.0.0/16) web-*,x");
        assert_eq!(cursor.value().unwrap().unwrap().text, "1:2.3~rc1-4");
        assert_eq!(cursor.value().unwrap().unwrap().text, "10.1.0.0/16");
        assert!(cursor.eat(')'));
        let glob = cursor.value().unwrap().unwrap();
        assert_eq!((glob.text.as_str(), glob.start), ("web-*", 27));
        assert_eq!(
            cursor.value().unwrap(),
            None,
            "a comma cannot start a value"
        );
    }

    #[test]
    fn quoted_values_unescape_and_report_unclosed_quotes() {
        let mut cursor = Cursor::new(r#""a \"b\" \\ c" "open"#);
        let value = cursor.value().unwrap().unwrap();
        assert_eq!(value.text, r#"a "b" \ c"#);
        assert!(value.quoted);
        let error = cursor.value().unwrap_err();
        assert_eq!(error.position, 15);
        assert!(error.message.contains("not closed"), "{error}");
        let error = Cursor::new(r#""bad \q""#).value().unwrap_err();
        assert_eq!(error.position, 5);
    }

    #[test]
    fn operators_and_keywords() {
        let mut cursor = Cursor::new("<= != ~ = AND andx");
        assert_eq!(cursor.op(), Some(Op::Le));
        assert_eq!(cursor.op(), Some(Op::Ne));
        assert_eq!(cursor.op(), Some(Op::Glob));
        assert_eq!(cursor.op(), Some(Op::Eq));
        assert!(cursor.eat_keyword("and"));
        assert!(
            !cursor.peek_keyword("and"),
            "'andx' is a word, not the keyword"
        );
        assert_eq!(cursor.name(), Some((14, "andx")));
        assert!(cursor.at_end());
    }
}
