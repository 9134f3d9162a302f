//! The output formats of a tree walk: QEMU's plain `qom-tree` text, and
//! one streamed JSON document.

use std::io::{self, Write};

use serde_json::{Map, Value};

use super::TreeSink;

/// QEMU's `qom-tree` format: the path; `  name: value (type)` per property,
/// values as Python prints them; a blank line.
pub struct PlainTree<W> {
    out: W,
    terminal: bool,
}

impl<W: Write> PlainTree<W> {
    /// Writes to `out`; `terminal` escapes control characters in values.
    pub fn new(out: W, terminal: bool) -> Self {
        PlainTree { out, terminal }
    }

    /// The writer back (to flush it).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, mut line: String) -> io::Result<()> {
        if self.terminal {
            line = crate::output::sanitize(&line);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }
}

impl<W: Write> TreeSink for PlainTree<W> {
    fn object(&mut self, path: &str) -> io::Result<()> {
        self.line(path.to_string())
    }
    fn property(&mut self, name: &str, ty: &str, value: Result<&Value, &str>) -> io::Result<()> {
        self.line(match value {
            Ok(v) => format!("  {name}: {} ({ty})", crate::pyfmt::py_str(v)),
            Err(desc) => format!("  {name}: <EXCEPTION: {desc}> ({ty})"),
        })
    }
    fn end_properties(&mut self, _truncated: bool) -> io::Result<()> {
        writeln!(self.out)
    }
    fn end_object(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The tree as one JSON document, streamed:
/// `{"path": P, "properties": [{"name", "type", "value" | "error"}], "children": [...]}`,
/// with `"truncated": true` before `children` in an object whose children
/// the depth limit left out.
pub struct JsonTree<W> {
    out: W,
    terminal: bool,
    /// Per open object: whether something was written in its current array.
    open: Vec<bool>,
    /// Whether the top-level object was written.
    started: bool,
}

impl<W: Write> JsonTree<W> {
    /// Writes to `out`; `terminal` escapes the DEL and C1 characters JSON
    /// leaves raw.
    pub fn new(out: W, terminal: bool) -> Self {
        JsonTree {
            out,
            terminal,
            open: Vec::new(),
            started: false,
        }
    }

    fn emit(&mut self, text: &str) -> io::Result<()> {
        if self.terminal {
            self.out
                .write_all(crate::output::terminal_safe(text, true).as_bytes())
        } else {
            self.out.write_all(text.as_bytes())
        }
    }

    /// The writer back (to flush it).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn comma(&mut self) -> io::Result<()> {
        if let Some(first) = self.open.last_mut() {
            if *first {
                *first = false;
            } else {
                self.out.write_all(b",")?;
            }
        }
        Ok(())
    }
}

impl<W: Write> TreeSink for JsonTree<W> {
    fn object(&mut self, path: &str) -> io::Result<()> {
        self.comma()?;
        self.started = true;
        self.emit(&format!(
            "{{\"path\":{},\"properties\":[",
            Value::from(path)
        ))?;
        self.open.push(true);
        Ok(())
    }
    fn property(&mut self, name: &str, ty: &str, value: Result<&Value, &str>) -> io::Result<()> {
        self.comma()?;
        let mut p = Map::new();
        p.insert("name".into(), name.into());
        p.insert("type".into(), ty.into());
        match value {
            Ok(v) => p.insert("value".into(), v.clone()),
            Err(e) => p.insert("error".into(), e.into()),
        };
        self.emit(&Value::Object(p).to_string())
    }
    fn end_properties(&mut self, truncated: bool) -> io::Result<()> {
        if truncated {
            self.out.write_all(b"],\"truncated\":true,\"children\":[")?;
        } else {
            self.out.write_all(b"],\"children\":[")?;
        }
        if let Some(first) = self.open.last_mut() {
            *first = true;
        }
        Ok(())
    }
    fn end_object(&mut self) -> io::Result<()> {
        self.open.pop();
        self.out.write_all(b"]}")?;
        if self.open.is_empty() && self.started {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
}
