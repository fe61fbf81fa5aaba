//! `--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SAST dashboards.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::Reporter;
use crate::lint::{all_rules, LintReport, RuleMeta, Severity};

pub struct Sarif;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule_descriptor(m: &RuleMeta) -> Value {
    json!({
        "id": m.id,
        "shortDescription": { "text": m.summary },
        "fullDescription": { "text": m.summary },
        "help": { "text": m.docs, "markdown": m.docs },
        "defaultConfiguration": { "level": level(m.severity) },
    })
}

impl Reporter for Sarif {
    fn render(&self, report: &LintReport, out: &mut dyn Write) -> io::Result<()> {
        // Only the rules that have results: keeps the document small and stable as rules are added.
        let metas: Vec<&RuleMeta> = if report.mysql {
            crate::lint::mysql_rules().filter(|m| report.findings.iter().any(|f| f.rule == m.id)).collect()
        } else {
            all_rules().filter(|m| report.findings.iter().any(|f| f.rule == m.id)).collect()
        };
        let results: Vec<Value> = report
            .findings
            .iter()
            .map(|f| {
                let mut text = f.message.clone();
                if let Some(s) = &f.suggestion {
                    text.push_str(&format!(" Instead: {s}"));
                }
                json!({
                    "ruleId": f.rule,
                    "ruleIndex": metas.iter().position(|m| m.id == f.rule),
                    "level": level(f.severity),
                    "message": { "text": text },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": f.file.replace('\\', "/") },
                            "region": {
                                "startLine": f.start.line,
                                "startColumn": f.start.column,
                                "endLine": f.end.line,
                                "endColumn": f.end.column,
                            }
                        }
                    }],
                })
            })
            .collect();
        let doc = json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "planner",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": metas.iter().map(|m| rule_descriptor(m)).collect::<Vec<_>>(),
                }},
                "results": results,
            }]
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}
