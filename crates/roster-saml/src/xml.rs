//! A small, strict XML tree for SAML messages.
//!
//! Built from `xmlparser`'s tokens rather than a general DOM because the verifier needs
//! what general DOMs hide or do too much of:
//! - the prefix each element and attribute was written with, and the namespace
//!   declarations as written, for exclusive canonicalization;
//! - no DTDs at all (no entity expansion, no external entities): a DOCTYPE is an error;
//! - bounds on depth and node count, checked while building (no recursion);
//! - text and CDATA merged into one text node, comments kept as separate nodes, so that
//!   reading "the text of an element" can concatenate all its text and a comment cannot
//!   cut a NameID short.

use crate::SamlError;
use xmlparser::{ElementEnd, Token, Tokenizer};

pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Parsing bounds. Each is checked while the tree is built.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024,
            max_depth: 48,
            max_nodes: 40_000,
        }
    }
}

pub type NodeId = usize;

/// Most attributes (namespace declarations included) one start tag may carry. SAML
/// elements carry a handful; the bound keeps per-element checks small.
pub const MAX_ATTRIBUTES: usize = 64;
/// Most namespace declarations one start tag may carry.
pub const MAX_NAMESPACE_DECLARATIONS: usize = 16;

#[derive(Debug, Clone)]
pub struct Attr {
    pub prefix: String,
    pub local: String,
    /// The attribute's namespace: `None` for unprefixed attributes.
    pub ns: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub prefix: String,
    pub local: String,
    pub ns: Option<String>,
    /// Namespace declarations written on this element: (prefix, uri), "" = default.
    pub ns_decls: Vec<(String, String)>,
    pub attrs: Vec<Attr>,
    pub children: Vec<NodeId>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Element(Element),
    Text(String),
    Comment,
    Pi { target: String, data: String },
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub parent: Option<NodeId>,
}

#[derive(Debug)]
pub struct Document {
    pub nodes: Vec<Node>,
    pub root: NodeId,
    /// Namespace declarations in effect around the root (see [`Document::parse_in_scope`]).
    pub outer_scope: Vec<(String, String)>,
}

fn bad(msg: impl Into<String>) -> SamlError {
    SamlError::Malformed(msg.into())
}

/// XML 1.0 §2.11: every `\r\n` and lone `\r` becomes `\n` before parsing.
fn normalize_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\r') {
        return text.into();
    }
    text.replace("\r\n", "\n").replace('\r', "\n").into()
}

/// Decodes the five predefined entities and character references. Any other entity is
/// an error: without a DTD none can be declared.
fn decode(raw: &str, attribute: bool) -> Result<String, SamlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find(['&', '\t', '\n']) {
        let (head, tail) = rest.split_at(pos);
        out.push_str(head);
        let mut chars = tail.chars();
        match chars.next() {
            // §3.3.3: literal whitespace in attribute values becomes a space.
            Some(c @ ('\t' | '\n')) => {
                out.push(if attribute { ' ' } else { c });
                rest = chars.as_str();
            }
            _ => {
                let end = tail.find(';').ok_or_else(|| bad("an '&' without ';'"))?;
                let name = tail.get(1..end).unwrap_or_default();
                let ch = match name {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "apos" => '\'',
                    "quot" => '"',
                    _ => {
                        let code = if let Some(hex) = name.strip_prefix("#x") {
                            u32::from_str_radix(hex, 16).ok()
                        } else if let Some(dec) = name.strip_prefix('#') {
                            dec.parse::<u32>().ok()
                        } else {
                            return Err(SamlError::Dtd(format!("undeclared entity '&{name};'")));
                        };
                        code.and_then(char::from_u32)
                            .filter(|c| *c != '\0')
                            .ok_or_else(|| bad(format!("invalid character reference '&{name};'")))?
                    }
                };
                out.push(ch);
                rest = tail.get(end + 1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// An attribute as written: prefix, local name, decoded value.
type RawAttr = (String, String, String);

struct Open {
    id: NodeId,
    prefix: String,
    local: String,
}

impl Document {
    /// Parses `text` into a tree, enforcing `limits`. Namespace prefixes must resolve.
    pub fn parse(text: &str, limits: Limits) -> Result<Self, SamlError> {
        Self::parse_in_scope(text, limits, &[])
    }

    /// Parses with `scope` namespace declarations already in effect (for a decrypted
    /// assertion, whose prefixes may be declared on the enclosing Response).
    pub fn parse_in_scope(text: &str, limits: Limits, scope: &[(String, String)]) -> Result<Self, SamlError> {
        if text.len() > limits.max_bytes {
            return Err(SamlError::TooLarge(format!(
                "the XML is {} bytes; the limit is {}",
                text.len(),
                limits.max_bytes
            )));
        }
        let text = normalize_newlines(text);
        let mut nodes: Vec<Node> = Vec::new();
        let mut stack: Vec<Open> = Vec::new();
        // Namespace scopes: one frame per open element, plus the outer scope.
        let mut scopes: Vec<Vec<(String, String)>> = vec![scope.to_vec()];
        let mut root: Option<NodeId> = None;
        // The element being opened: its attributes arrive before ElementEnd.
        let mut pending: Option<(String, String, Vec<RawAttr>)> = None;

        let lookup = |scopes: &[Vec<(String, String)>], prefix: &str| -> Option<String> {
            if prefix == "xml" {
                return Some(XML_NS.to_string());
            }
            scopes
                .iter()
                .rev()
                .find_map(|f| f.iter().rev().find(|(p, _)| p == prefix).map(|(_, u)| u.clone()))
        };

        let push = |nodes: &mut Vec<Node>, stack: &[Open], kind: Kind| -> Result<NodeId, SamlError> {
            if nodes.len() >= limits.max_nodes {
                return Err(SamlError::TooLarge(format!("more than {} XML nodes", limits.max_nodes)));
            }
            let id = nodes.len();
            let parent = stack.last().map(|o| o.id);
            nodes.push(Node { kind, parent });
            if let Some(p) = parent {
                if let Some(Node {
                    kind: Kind::Element(e), ..
                }) = nodes.get_mut(p)
                {
                    e.children.push(id);
                }
            }
            Ok(id)
        };

        for token in Tokenizer::from(text.as_ref()) {
            let token = token.map_err(|e| bad(e.to_string()))?;
            match token {
                Token::Declaration { .. } => {}
                Token::DtdStart { .. }
                | Token::EmptyDtd { .. }
                | Token::EntityDeclaration { .. }
                | Token::DtdEnd { .. } => {
                    return Err(SamlError::Dtd("a DOCTYPE is not allowed".into()));
                }
                Token::ProcessingInstruction { target, content, .. } => {
                    if !stack.is_empty() {
                        let data = content.map(|c| c.as_str().to_string()).unwrap_or_default();
                        push(
                            &mut nodes,
                            &stack,
                            Kind::Pi {
                                target: target.as_str().into(),
                                data,
                            },
                        )?;
                    }
                }
                Token::Comment { .. } => {
                    if !stack.is_empty() {
                        push(&mut nodes, &stack, Kind::Comment)?;
                    }
                }
                Token::ElementStart { prefix, local, .. } => {
                    if stack.is_empty() && root.is_some() {
                        return Err(bad("more than one root element"));
                    }
                    if stack.len() >= limits.max_depth {
                        return Err(SamlError::TooLarge(format!(
                            "XML nested deeper than {}",
                            limits.max_depth
                        )));
                    }
                    pending = Some((prefix.as_str().into(), local.as_str().into(), Vec::new()));
                }
                Token::Attribute {
                    prefix, local, value, ..
                } => {
                    let Some((_, _, attrs)) = pending.as_mut() else {
                        return Err(bad("an attribute outside a start tag"));
                    };
                    if attrs.len() >= MAX_ATTRIBUTES {
                        return Err(SamlError::TooLarge(format!(
                            "more than {MAX_ATTRIBUTES} attributes on one element"
                        )));
                    }
                    attrs.push((
                        prefix.as_str().into(),
                        local.as_str().into(),
                        decode(value.as_str(), true)?,
                    ));
                }
                Token::ElementEnd { end, .. } => match end {
                    ElementEnd::Open | ElementEnd::Empty => {
                        let Some((prefix, local, raw_attrs)) = pending.take() else {
                            return Err(bad("a start tag without a name"));
                        };
                        let mut decls = Vec::new();
                        let mut plain = Vec::new();
                        for (p, l, v) in raw_attrs {
                            if p.is_empty() && l == "xmlns" {
                                decls.push((String::new(), v));
                            } else if p == "xmlns" {
                                if v.is_empty() {
                                    return Err(bad(format!("prefix '{l}' is undeclared to empty")));
                                }
                                decls.push((l, v));
                            } else {
                                plain.push((p, l, v));
                            }
                        }
                        if decls.len() > MAX_NAMESPACE_DECLARATIONS {
                            return Err(SamlError::TooLarge(format!(
                                "more than {MAX_NAMESPACE_DECLARATIONS} namespace declarations on one element"
                            )));
                        }
                        scopes.push(decls.clone());
                        let ns = lookup(&scopes, &prefix).filter(|u| !u.is_empty());
                        if !prefix.is_empty() && ns.is_none() {
                            return Err(bad(format!("undeclared namespace prefix '{prefix}'")));
                        }
                        let mut attrs: Vec<Attr> = Vec::with_capacity(plain.len());
                        for (p, l, v) in plain {
                            let ans = if p.is_empty() {
                                None
                            } else {
                                Some(
                                    lookup(&scopes, &p)
                                        .ok_or_else(|| bad(format!("undeclared namespace prefix '{p}'")))?,
                                )
                            };
                            if attrs.iter().any(|a| a.local == l && a.ns == ans) {
                                return Err(bad(format!("attribute '{l}' appears twice on <{local}>")));
                            }
                            attrs.push(Attr {
                                prefix: p,
                                local: l,
                                ns: ans,
                                value: v,
                            });
                        }
                        let el = Element {
                            prefix: prefix.clone(),
                            local: local.clone(),
                            ns,
                            ns_decls: decls,
                            attrs,
                            children: Vec::new(),
                        };
                        let id = push(&mut nodes, &stack, Kind::Element(el))?;
                        if stack.is_empty() {
                            root = Some(id);
                        }
                        if matches!(end, ElementEnd::Empty) {
                            scopes.pop();
                        } else {
                            stack.push(Open { id, prefix, local });
                        }
                    }
                    ElementEnd::Close(prefix, local) => {
                        let open = stack.pop().ok_or_else(|| bad("a closing tag without an opening one"))?;
                        if open.prefix != prefix.as_str() || open.local != local.as_str() {
                            return Err(bad(format!("<{}> closed by </{}>", open.local, local.as_str())));
                        }
                        scopes.pop();
                    }
                },
                Token::Text { text } => {
                    if stack.is_empty() {
                        if !text.as_str().trim().is_empty() {
                            return Err(bad("text outside the root element"));
                        }
                        continue;
                    }
                    let decoded = decode(text.as_str(), false)?;
                    append_text(&mut nodes, &stack, decoded, &push)?;
                }
                Token::Cdata { text, .. } => {
                    if stack.is_empty() {
                        return Err(bad("CDATA outside the root element"));
                    }
                    append_text(&mut nodes, &stack, text.as_str().to_string(), &push)?;
                }
            }
        }
        if !stack.is_empty() {
            return Err(bad("the document ends inside an element"));
        }
        let root = root.ok_or_else(|| bad("no root element"))?;
        Ok(Self {
            nodes,
            root,
            outer_scope: scope.to_vec(),
        })
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match self.nodes.get(id).map(|n| &n.kind) {
            Some(Kind::Element(e)) => Some(e),
            _ => None,
        }
    }

    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.nodes.get(id).and_then(|n| n.parent)
    }

    /// True when `id` is an element named `local` in namespace `ns`.
    pub fn is(&self, id: NodeId, ns: &str, local: &str) -> bool {
        self.element(id)
            .is_some_and(|e| e.local == local && e.ns.as_deref() == Some(ns))
    }

    /// The element children of `id`, in order.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.element(id)
            .map(|e| e.children.as_slice())
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|c| self.element(*c).is_some())
    }

    /// The element children of `id` named `ns`:`local`.
    pub fn children_named<'a>(&'a self, id: NodeId, ns: &'a str, local: &'a str) -> impl Iterator<Item = NodeId> + 'a {
        self.child_elements(id).filter(move |c| self.is(*c, ns, local))
    }

    /// Exactly one child element `ns`:`local`, else an error naming it.
    pub fn only_child(&self, id: NodeId, ns: &str, local: &str) -> Result<NodeId, SamlError> {
        let mut it = self.children_named(id, ns, local);
        match (it.next(), it.next()) {
            (Some(c), None) => Ok(c),
            (None, _) => Err(SamlError::Malformed(format!("<{local}> is missing"))),
            (Some(_), Some(_)) => Err(SamlError::Malformed(format!("more than one <{local}>"))),
        }
    }

    /// At most one child element `ns`:`local`.
    pub fn optional_child(&self, id: NodeId, ns: &str, local: &str) -> Result<Option<NodeId>, SamlError> {
        let mut it = self.children_named(id, ns, local);
        match (it.next(), it.next()) {
            (first, None) => Ok(first),
            _ => Err(SamlError::Malformed(format!("more than one <{local}>"))),
        }
    }

    /// The value of the unprefixed attribute `name` of element `id`.
    pub fn attr(&self, id: NodeId, name: &str) -> Option<&str> {
        self.element(id)?
            .attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == name)
            .map(|a| a.value.as_str())
    }

    /// The value of attribute `ns`:`name` of element `id`.
    pub fn attr_ns(&self, id: NodeId, ns: &str, name: &str) -> Option<&str> {
        self.element(id)?
            .attrs
            .iter()
            .find(|a| a.ns.as_deref() == Some(ns) && a.local == name)
            .map(|a| a.value.as_str())
    }

    /// All text inside `id`, concatenated in document order: comments and CDATA
    /// boundaries cannot split it, and nested elements' text is included.
    pub fn text(&self, id: NodeId) -> String {
        let mut out = String::new();
        let mut todo = vec![id];
        while let Some(n) = todo.pop() {
            match self.nodes.get(n).map(|n| &n.kind) {
                Some(Kind::Text(t)) => out.push_str(t),
                Some(Kind::Element(e)) => todo.extend(e.children.iter().rev()),
                _ => {}
            }
        }
        out
    }

    /// Every element in document order.
    pub fn elements(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).filter(|i| self.element(*i).is_some())
    }

    /// True when `ancestor` is `id` or one of its ancestors.
    pub fn is_within(&self, id: NodeId, ancestor: NodeId) -> bool {
        let mut cur = Some(id);
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.parent(c);
        }
        false
    }

    /// The namespace declarations in effect at `id` (nearest declaration wins).
    pub fn in_scope(&self, id: NodeId) -> Vec<(String, String)> {
        let mut chain = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            chain.push(c);
            cur = self.parent(c);
        }
        let mut scope: Vec<(String, String)> = self.outer_scope.clone();
        for c in chain.into_iter().rev() {
            if let Some(e) = self.element(c) {
                for (p, u) in &e.ns_decls {
                    scope.retain(|(q, _)| q != p);
                    scope.push((p.clone(), u.clone()));
                }
            }
        }
        scope
    }
}

fn append_text<F>(nodes: &mut Vec<Node>, stack: &[Open], text: String, push: &F) -> Result<(), SamlError>
where
    F: Fn(&mut Vec<Node>, &[Open], Kind) -> Result<NodeId, SamlError>,
{
    // Text right after text (or CDATA) extends the same node.
    let parent = stack.last().map(|o| o.id);
    let last_child = parent
        .and_then(|p| match nodes.get(p).map(|n| &n.kind) {
            Some(Kind::Element(e)) => e.children.last().copied(),
            _ => None,
        })
        .filter(|c| matches!(nodes.get(*c).map(|n| &n.kind), Some(Kind::Text(_))));
    if let Some(Node {
        kind: Kind::Text(t), ..
    }) = last_child.and_then(|c| nodes.get_mut(c))
    {
        t.push_str(&text);
        return Ok(());
    }
    push(nodes, stack, Kind::Text(text))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_cdata_cannot_split_text() {
        let d = Document::parse("<a>user@<!-- x -->acme.com<![CDATA[.evil]]></a>", Limits::default()).unwrap();
        assert_eq!(d.text(d.root), "user@acme.com.evil");
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(matches!(
            Document::parse(xxe, Limits::default()),
            Err(SamlError::Dtd(_))
        ));
        assert!(matches!(
            Document::parse("<a>&x;</a>", Limits::default()),
            Err(SamlError::Dtd(_))
        ));
    }

    #[test]
    fn depth_and_node_bounds_hold() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(
            Document::parse(&deep, Limits::default()),
            Err(SamlError::TooLarge(_))
        ));
        let wide = format!("<a>{}</a>", "<b/>".repeat(50_000));
        assert!(matches!(
            Document::parse(&wide, Limits::default()),
            Err(SamlError::TooLarge(_))
        ));
    }

    #[test]
    fn namespaces_resolve_and_must_be_declared() {
        let d = Document::parse(r#"<p:a xmlns:p="urn:x" p:b="1" c="2"/>"#, Limits::default()).unwrap();
        assert!(d.is(d.root, "urn:x", "a"));
        assert_eq!(d.attr_ns(d.root, "urn:x", "b"), Some("1"));
        assert_eq!(d.attr(d.root, "c"), Some("2"));
        assert!(Document::parse("<p:a/>", Limits::default()).is_err());
        assert!(Document::parse(r#"<a b="1" b="2"/>"#, Limits::default()).is_err());
    }

    #[test]
    fn attribute_values_are_normalized() {
        let d = Document::parse("<a b=\"x\ny&#10;&amp;\"/>", Limits::default()).unwrap();
        assert_eq!(d.attr(d.root, "b"), Some("x y\n&"));
    }
}
