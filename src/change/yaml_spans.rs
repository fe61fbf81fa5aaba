//! Source positions of YAML values, so semantic errors ("table userz does not exist") point at
//! file:line:column like syntax errors do. serde gives us values; yaml-rust2 gives positions.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Path of a value in the document: `changes.0.rename_column.table`.
pub type YamlPath = String;

/// (line, column), both 1-based.
pub type Position = (usize, usize);

/// Positions of every scalar value and every mapping key's value, by dotted path.
pub fn value_positions(text: &str) -> BTreeMap<YamlPath, Position> {
    let mut collector = Collector::default();
    let mut parser = Parser::new_from_str(text);
    // Syntax errors are reported by serde_yaml_ng with their own position; ignore them here.
    let _ = parser.load(&mut collector, false);
    collector.positions
}

#[derive(Debug)]
enum Frame {
    Map { key: Option<String>, pending_key: bool },
    Seq { index: usize },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    path: Vec<String>,
    positions: BTreeMap<YamlPath, Position>,
}

impl Collector {
    /// A value starts at `mark`: record it under the current path and descend/advance.
    fn on_value_start(&mut self, mark: Marker) -> Option<String> {
        match self.stack.last_mut() {
            Some(Frame::Map { key, pending_key }) => {
                if *pending_key {
                    None // this node is a key, handled by the caller
                } else {
                    key.take()
                }
            }
            Some(Frame::Seq { index }) => {
                let i = *index;
                *index += 1;
                let _ = mark;
                Some(i.to_string())
            }
            None => None,
        }
    }

    fn current_path(&self, last: &str) -> String {
        let mut parts = self.path.clone();
        parts.push(last.to_string());
        parts.join(".")
    }

    fn record(&mut self, segment: Option<String>, mark: Marker) {
        if let Some(seg) = segment {
            let path = self.current_path(&seg);
            self.positions.insert(path, (mark.line(), mark.col() + 1));
        }
    }

    fn after_value(&mut self) {
        if let Some(Frame::Map { pending_key, .. }) = self.stack.last_mut() {
            *pending_key = true;
        }
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { key, pending_key }) = self.stack.last_mut() {
                    if *pending_key {
                        *key = Some(value);
                        *pending_key = false;
                        return;
                    }
                }
                let seg = self.on_value_start(mark);
                self.record(seg, mark);
                self.after_value();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let seg = self.on_value_start(mark);
                self.record(seg.clone(), mark);
                if let Some(seg) = seg {
                    self.path.push(seg);
                } else if !self.stack.is_empty() {
                    self.path.push(String::new());
                }
                let frame = if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { key: None, pending_key: true }
                } else {
                    Frame::Seq { index: 0 }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                if !self.stack.is_empty() {
                    self.path.pop();
                }
                self.after_value();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_positions_of_nested_values() {
        let text = "name: x\nchanges:\n  - rename_column: { table: users, from: name, to: full_name }\n  - drop_column:\n      table: users\n      column: legacy\n";
        let p = value_positions(text);
        assert_eq!(p.get("name"), Some(&(1, 7)));
        assert_eq!(p.get("changes.0.rename_column.table"), Some(&(3, 29)));
        assert_eq!(p.get("changes.0.rename_column.to"), Some(&(3, 52)));
        assert_eq!(p.get("changes.1.drop_column.column"), Some(&(6, 15)));
    }
}
