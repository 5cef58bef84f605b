//! Exclusive XML Canonicalization 1.0, without comments
//! (<http://www.w3.org/2001/10/xml-exc-c14n#>), of one element's subtree.
//!
//! This is the only canonicalization the verifier accepts, so it is the only one here.
//! A namespace declaration is output on an element only where the element or one of its
//! attributes uses the prefix (or the prefix is in the `InclusiveNamespaces` list) and
//! the nearest output ancestor did not already output the same declaration. One node can
//! be left out: the `Signature` element, for the enveloped-signature transform.

use crate::xml::{Document, Kind, NodeId};

/// The canonical bytes of the subtree at `apex`, leaving out `exclude` (and everything
/// under it). `inclusive` lists prefixes treated as in inclusive C14N (`#default` for
/// the default namespace).
pub fn canonicalize(doc: &Document, apex: NodeId, exclude: Option<NodeId>, inclusive: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(8192);
    // Two flat stacks of (prefix, uri), borrowed from the document, with the length
    // each open element found them at: the namespaces in scope (nearest last), and the
    // declarations already output by open output elements.
    let mut scope: Vec<(&str, &str)> = Vec::with_capacity(32);
    let mut rendered: Vec<(&str, &str)> = Vec::with_capacity(32);
    let mut frames: Vec<(usize, usize)> = Vec::with_capacity(32);
    // In-scope namespaces of the apex come from its ancestors too.
    let mut chain = Vec::new();
    let mut cur = Some(apex);
    while let Some(c) = cur {
        chain.push(c);
        cur = doc.parent(c);
    }
    let inclusive: Vec<&str> = inclusive
        .iter()
        .map(|p| if p == "#default" { "" } else { p.as_str() })
        .collect();
    // Depth-first walk with explicit enter/leave events (no recursion).
    enum Step {
        Enter(NodeId),
        Leave(NodeId),
    }
    let mut todo = vec![Step::Enter(apex)];
    let mut wanted: Vec<&str> = Vec::with_capacity(8);
    let mut attrs = Vec::with_capacity(8);
    while let Some(step) = todo.pop() {
        match step {
            Step::Enter(id) => {
                if Some(id) == exclude {
                    continue;
                }
                let Some(node) = doc.node(id) else { continue };
                match &node.kind {
                    Kind::Text(t) => escape_text(t, &mut out),
                    Kind::Comment => {}
                    Kind::Pi { target, data } => {
                        out.push_str("<?");
                        out.push_str(target);
                        if !data.is_empty() {
                            out.push(' ');
                            out.push_str(data);
                        }
                        out.push_str("?>");
                    }
                    Kind::Element(e) => {
                        frames.push((scope.len(), rendered.len()));
                        // The namespace scope at this element.
                        if id == apex {
                            // A decrypted assertion inherits the Response's declarations.
                            scope.extend(doc.outer_scope.iter().map(|(p, u)| (p.as_str(), u.as_str())));
                            for c in chain.iter().rev() {
                                if let Some(a) = doc.element(*c) {
                                    scope.extend(a.ns_decls.iter().map(|(p, u)| (p.as_str(), u.as_str())));
                                }
                            }
                        } else {
                            scope.extend(e.ns_decls.iter().map(|(p, u)| (p.as_str(), u.as_str())));
                        }
                        let lookup = |p: &str| scope.iter().rev().find(|(q, _)| *q == p).map(|(_, u)| *u);
                        // Visibly utilized prefixes, plus the inclusive list.
                        wanted.clear();
                        wanted.push(&e.prefix);
                        for a in &e.attrs {
                            if !a.prefix.is_empty() && a.prefix != "xml" {
                                wanted.push(&a.prefix);
                            }
                        }
                        for p in &inclusive {
                            if lookup(p).is_some() {
                                wanted.push(p);
                            }
                        }
                        wanted.sort_unstable();
                        wanted.dedup();
                        out.push('<');
                        qname(&e.prefix, &e.local, &mut out);
                        // `wanted` has no repeats, so what this element pushes below never
                        // matches a later prefix: `rendered` holds the ancestors' output.
                        for p in &wanted {
                            let uri = lookup(p).unwrap_or_default();
                            let already = rendered.iter().rev().find(|(q, _)| q == p).map(|(_, u)| *u);
                            let needed = match already {
                                Some(prev) => prev != uri,
                                // An empty default namespace needs no declaration at the top.
                                None => !(p.is_empty() && uri.is_empty()),
                            };
                            if needed {
                                rendered.push((p, uri));
                                if p.is_empty() {
                                    out.push_str(" xmlns=\"");
                                } else {
                                    out.push_str(" xmlns:");
                                    out.push_str(p);
                                    out.push_str("=\"");
                                }
                                escape_attr(uri, &mut out);
                                out.push('"');
                            }
                        }
                        attrs.clear();
                        attrs.extend(e.attrs.iter());
                        attrs.sort_by(|a, b| {
                            (a.ns.as_deref().unwrap_or(""), a.local.as_str())
                                .cmp(&(b.ns.as_deref().unwrap_or(""), b.local.as_str()))
                        });
                        for a in &attrs {
                            out.push(' ');
                            qname(&a.prefix, &a.local, &mut out);
                            out.push_str("=\"");
                            escape_attr(&a.value, &mut out);
                            out.push('"');
                        }
                        out.push('>');
                        todo.push(Step::Leave(id));
                        for c in e.children.iter().rev() {
                            todo.push(Step::Enter(*c));
                        }
                    }
                }
            }
            Step::Leave(id) => {
                if let Some(e) = doc.element(id) {
                    out.push_str("</");
                    qname(&e.prefix, &e.local, &mut out);
                    out.push('>');
                }
                if let Some((s, r)) = frames.pop() {
                    scope.truncate(s);
                    rendered.truncate(r);
                }
            }
        }
    }
    out.into_bytes()
}

fn qname(prefix: &str, local: &str, out: &mut String) {
    if !prefix.is_empty() {
        out.push_str(prefix);
        out.push(':');
    }
    out.push_str(local);
}

fn escape_text(t: &str, out: &mut String) {
    escape(t, out, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\r' => Some("&#xD;"),
        _ => None,
    });
}

fn escape_attr(t: &str, out: &mut String) {
    escape(t, out, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '"' => Some("&quot;"),
        '\t' => Some("&#x9;"),
        '\n' => Some("&#xA;"),
        '\r' => Some("&#xD;"),
        _ => None,
    });
}

/// Copies `t`, replacing the characters `special` names; runs between them are copied whole.
fn escape(t: &str, out: &mut String, special: impl Fn(char) -> Option<&'static str>) {
    let mut start = 0;
    for (i, c) in t.char_indices() {
        if let Some(rep) = special(c) {
            out.push_str(t.get(start..i).unwrap_or_default());
            out.push_str(rep);
            start = i + c.len_utf8();
        }
    }
    out.push_str(t.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Limits;

    fn c14n(xml: &str, inclusive: &[&str]) -> String {
        let d = Document::parse(xml, Limits::default()).unwrap();
        let inc: Vec<String> = inclusive.iter().map(|s| s.to_string()).collect();
        String::from_utf8(canonicalize(&d, d.root, None, &inc)).unwrap()
    }

    #[test]
    fn only_used_namespaces_are_output_and_attributes_sorted() {
        let got = c14n(
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:u="urn:u" z="1" b:y="2" a="3"><a:c/><b:d/></a:r>"#,
            &[],
        );
        assert_eq!(
            got,
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" a="3" z="1" b:y="2"><a:c></a:c><b:d></b:d></a:r>"#
        );
    }

    #[test]
    fn inclusive_prefixes_are_output_once() {
        let got = c14n(
            r#"<a:r xmlns:a="urn:a" xmlns:u="urn:u"><a:c xmlns:u="urn:u"/></a:r>"#,
            &["u"],
        );
        assert_eq!(got, r#"<a:r xmlns:a="urn:a" xmlns:u="urn:u"><a:c></a:c></a:r>"#);
    }

    #[test]
    fn default_namespace_is_undeclared_when_left() {
        let got = c14n(r#"<r xmlns="urn:d"><c xmlns=""/></r>"#, &[]);
        assert_eq!(got, r#"<r xmlns="urn:d"><c xmlns=""></c></r>"#);
    }

    #[test]
    fn text_and_attributes_are_escaped_and_comments_dropped() {
        let got = c14n("<r a=\"&lt;&quot;&#9;\">x &lt; y &gt; z &amp;<!-- c --></r>", &[]);
        assert_eq!(got, "<r a=\"&lt;&quot;&#x9;\">x &lt; y &gt; z &amp;</r>");
    }
}
