//! SCIM filters (RFC 7644 §3.4.2.2), parsed into an AST by recursive descent.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / "not" "(" FILTER ")" / "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//! logExp    = FILTER SP ("and" / "or") SP FILTER        ; "not" > "and" > "or"
//! ```
//!
//! Untrusted input, so bounded: at most [`MAX_FILTER_LEN`] bytes, [`MAX_DEPTH`] levels of
//! nesting and [`MAX_TERMS`] comparisons; past that the answer is `400 invalidFilter`,
//! never a stack overflow. Keywords and attribute names are case-insensitive.

use crate::path::{clip, AttrPath};
use crate::ScimError;
use serde_json::Value;

pub const MAX_FILTER_LEN: usize = 4096;
pub const MAX_DEPTH: usize = 16;
pub const MAX_TERMS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`, whose
    /// paths name sub-attributes of `attr`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn lex(input: &str) -> Result<Vec<Token>, ScimError> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            b')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            b'[' => {
                tokens.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                tokens.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                // A JSON string: find its closing quote, honouring escapes.
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(ScimError::invalid_filter("a string in the filter is not closed")),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let raw = input
                    .get(start..=i)
                    .ok_or_else(|| ScimError::invalid_filter("a string in the filter is not closed"))?;
                let s: String = serde_json::from_str(raw)
                    .map_err(|_| ScimError::invalid_filter(format!("{} is not a valid string", clip(raw))))?;
                tokens.push(Token::Str(s));
                i += 1;
            }
            _ => {
                let start = i;
                while let Some(&c) = bytes.get(i) {
                    if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"') {
                        break;
                    }
                    i += 1;
                }
                let word = input
                    .get(start..i)
                    .ok_or_else(|| ScimError::invalid_filter("the filter is not valid UTF-8 text"))?;
                tokens.push(Token::Word(word.to_string()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Token, what: &str) -> Result<(), ScimError> {
        if self.next() == Some(t) {
            Ok(())
        } else {
            Err(ScimError::invalid_filter(format!("expected {what}")))
        }
    }
    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "the filter nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.not()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, ScimError> {
        if self.peek_keyword("not") && matches!(self.tokens.get(self.pos + 1), Some(Token::Open)) {
            self.pos += 2;
            self.enter()?;
            let inner = self.or()?;
            self.expect(Token::Close, "')' after 'not ('")?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Filter, ScimError> {
        match self.next() {
            Some(Token::Open) => {
                self.enter()?;
                let inner = self.or()?;
                self.expect(Token::Close, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                let path = AttrPath::parse(&word).map_err(|e| ScimError::invalid_filter(e.detail))?;
                if self.peek() == Some(&Token::OpenBracket) {
                    self.pos += 1;
                    self.enter()?;
                    let mut inner = self.or()?;
                    self.expect(Token::CloseBracket, "']'")?;
                    self.depth -= 1;
                    // `emails[type eq "work"].value eq "…"` (what Entra ID sends to match
                    // by work email): a value of `emails` that matches the filter and
                    // whose sub-attribute matches the comparison.
                    if let Some(Token::Word(next)) = self.peek() {
                        if let Some(sub) = next.strip_prefix('.') {
                            let sub = sub.to_string();
                            self.pos += 1;
                            let sub_path = AttrPath::parse(&sub).map_err(|e| ScimError::invalid_filter(e.detail))?;
                            let compared = self.comparison(sub_path, &sub)?;
                            inner = Filter::And(Box::new(inner), Box::new(compared));
                        }
                    }
                    return Ok(Filter::ValuePath {
                        path,
                        filter: Box::new(inner),
                    });
                }
                self.comparison(path, &word)
            }
            Some(other) => Err(ScimError::invalid_filter(format!("unexpected {other:?} in the filter"))),
            None => Err(ScimError::invalid_filter("the filter ends too early")),
        }
    }

    /// `path pr`, or `path op value`, after `path` (spelled `word`) was read.
    fn comparison(&mut self, path: AttrPath, word: &str) -> Result<Filter, ScimError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(ScimError::invalid_filter(format!(
                "the filter has more than {MAX_TERMS} comparisons"
            )));
        }
        let op_word = match self.next() {
            Some(Token::Word(w)) => w,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "expected an operator after '{}'",
                    clip(word)
                )))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(&op_word)
            .ok_or_else(|| ScimError::invalid_filter(format!("'{}' is not a filter operator", clip(&op_word))))?;
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| ScimError::invalid_filter(format!("'{}' is not a value: quote strings", clip(&w))))?,
            },
            _ => return Err(ScimError::invalid_filter(format!("expected a value after '{op_word}'"))),
        };
        match (op, &value) {
            (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, v) if !v.is_string() => {
                Err(ScimError::invalid_filter(format!("'{op_word}' compares strings only")))
            }
            (CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le, Value::Bool(_) | Value::Null) => Err(
                ScimError::invalid_filter(format!("'{op_word}' cannot compare booleans or null")),
            ),
            _ => Ok(Filter::Compare { path, op, value }),
        }
    }
}

/// Parses a filter.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "the filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    if input.trim().is_empty() {
        return Err(ScimError::invalid_filter("the filter is empty"));
    }
    let tokens = lex(input)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        terms: 0,
    };
    let filter = p.or()?;
    if p.pos < p.tokens.len() {
        return Err(ScimError::invalid_filter("unexpected text after the end of the filter"));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(path: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(path).unwrap(),
            op,
            value,
        }
    }

    #[test]
    fn comparisons_and_values() {
        assert_eq!(
            parse(r#"userName eq "bjensen@example.com""#).unwrap(),
            cmp("userName", CompareOp::Eq, json!("bjensen@example.com"))
        );
        assert_eq!(
            parse("active EQ True").unwrap(),
            cmp("active", CompareOp::Eq, json!(true))
        );
        assert_eq!(
            parse("meta.version ne null").unwrap(),
            cmp("meta.version", CompareOp::Ne, Value::Null)
        );
        assert_eq!(parse("x gt 1.5").unwrap(), cmp("x", CompareOp::Gt, json!(1.5)));
        assert_eq!(
            parse(r#"title pr"#).unwrap(),
            Filter::Present(AttrPath::parse("title").unwrap())
        );
        assert_eq!(
            parse(r#"name.familyName co "O\"Malley""#).unwrap(),
            cmp("name.familyName", CompareOp::Co, json!("O\"Malley"))
        );
    }

    #[test]
    fn precedence_not_and_or() {
        let f = parse(r#"a eq "1" or b eq "2" and not (c pr)"#).unwrap();
        let expected = Filter::Or(
            Box::new(cmp("a", CompareOp::Eq, json!("1"))),
            Box::new(Filter::And(
                Box::new(cmp("b", CompareOp::Eq, json!("2"))),
                Box::new(Filter::Not(Box::new(Filter::Present(AttrPath::parse("c").unwrap())))),
            )),
        );
        assert_eq!(f, expected);
        let f = parse(r#"(a eq "1" or b eq "2") and c eq "3""#).unwrap();
        assert!(matches!(f, Filter::And(l, _) if matches!(*l, Filter::Or(..))));
    }

    #[test]
    fn value_paths_and_urns() {
        let f = parse(r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]"#).unwrap();
        let Filter::Or(l, _) = f else { panic!() };
        let Filter::ValuePath { path, filter } = *l else {
            panic!()
        };
        assert_eq!(path.attr, "emails");
        assert!(matches!(*filter, Filter::And(..)));
        // Entra's match by work email: a value path, then a sub-attribute comparison.
        let f = parse(r#"emails[type eq "work"].value eq "jo@acme.example""#).unwrap();
        let Filter::ValuePath { path, filter } = f else {
            panic!()
        };
        assert_eq!(path.attr, "emails");
        let Filter::And(l, r) = *filter else { panic!() };
        assert_eq!(*l, cmp("type", CompareOp::Eq, json!("work")));
        assert_eq!(*r, cmp("value", CompareOp::Eq, json!("jo@acme.example")));
        assert!(parse(r#"emails[type eq "work"].value"#).is_err());
        let f =
            parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#).unwrap();
        let Filter::Compare { path, .. } = f else { panic!() };
        assert_eq!(
            path.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.attr, "employeeNumber");
    }

    #[test]
    fn hostile_filters_are_400_invalid_filter() {
        let deep = format!("{}a pr{}", "(".repeat(200), ")".repeat(200));
        let long = format!("userName eq \"{}\"", "x".repeat(100 * 1024));
        let many = (0..100)
            .map(|i| format!("a eq \"{i}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName zz \"x\"",
            "userName eq bob",
            "userName co 5",
            "active gt true",
            "(userName pr",
            "emails[type eq \"work\"",
            "userName eq \"x\" extra",
            "userName eq \"unterminated",
            "not userName pr",
            deep.as_str(),
            long.as_str(),
            many.as_str(),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.scim_type(), Some("invalidFilter"), "{}", &bad[..bad.len().min(60)]);
        }
    }
}
