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
    let mut out = String::with_capacity(4096);
    // Declarations output so far, by open output element: (prefix, uri).
    let mut rendered: Vec<Vec<(String, String)>> = Vec::new();
    // Depth-first walk with explicit enter/leave events (no recursion).
    enum Step {
        Enter(NodeId),
        Leave(NodeId),
    }
    let mut todo = vec![Step::Enter(apex)];
    // In-scope namespaces of the apex come from its ancestors too.
    let apex_scope = doc.in_scope(apex);
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
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
                        // The namespace scope at this element.
                        let mut scope = scopes.last().cloned().unwrap_or_else(|| apex_scope.clone());
                        if id != apex {
                            for (p, u) in &e.ns_decls {
                                scope.retain(|(q, _)| q != p);
                                scope.push((p.clone(), u.clone()));
                            }
                        }
                        let lookup = |p: &str| -> String {
                            scope
                                .iter()
                                .rev()
                                .find(|(q, _)| q == p)
                                .map(|(_, u)| u.clone())
                                .unwrap_or_default()
                        };
                        // Visibly utilized prefixes, plus the inclusive list.
                        let mut wanted: Vec<String> = vec![e.prefix.clone()];
                        for a in &e.attrs {
                            if !a.prefix.is_empty() && a.prefix != "xml" {
                                wanted.push(a.prefix.clone());
                            }
                        }
                        for p in inclusive {
                            let p = if p == "#default" { String::new() } else { p.clone() };
                            if scope.iter().any(|(q, _)| *q == p) {
                                wanted.push(p);
                            }
                        }
                        wanted.sort();
                        wanted.dedup();
                        let mut decls: Vec<(String, String)> = Vec::new();
                        for p in wanted {
                            let uri = lookup(&p);
                            let already = rendered
                                .iter()
                                .rev()
                                .find_map(|f| f.iter().find(|(q, _)| *q == p).map(|(_, u)| u.clone()));
                            let needed = match already {
                                Some(prev) => prev != uri,
                                // An empty default namespace needs no declaration at the top.
                                None => !(p.is_empty() && uri.is_empty()),
                            };
                            if needed {
                                decls.push((p, uri));
                            }
                        }
                        out.push('<');
                        qname(&e.prefix, &e.local, &mut out);
                        for (p, u) in &decls {
                            if p.is_empty() {
                                out.push_str(" xmlns=\"");
                            } else {
                                out.push_str(" xmlns:");
                                out.push_str(p);
                                out.push_str("=\"");
                            }
                            escape_attr(u, &mut out);
                            out.push('"');
                        }
                        let mut attrs: Vec<_> = e.attrs.iter().collect();
                        attrs.sort_by(|a, b| {
                            (a.ns.as_deref().unwrap_or(""), a.local.as_str())
                                .cmp(&(b.ns.as_deref().unwrap_or(""), b.local.as_str()))
                        });
                        for a in attrs {
                            out.push(' ');
                            qname(&a.prefix, &a.local, &mut out);
                            out.push_str("=\"");
                            escape_attr(&a.value, &mut out);
                            out.push('"');
                        }
                        out.push('>');
                        rendered.push(decls);
                        scopes.push(scope);
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
                rendered.pop();
                scopes.pop();
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
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(t: &str, out: &mut String) {
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
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
