//! Writing a plan folder: everything goes to a temporary folder first and is renamed into
//! place, so a failure never leaves a partial `plans/<name>/`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{files, Plan};

/// Render the plan's files, fill in their checksums and write `out/<plan.name>/`.
pub fn write_plan_dir(out: &Path, plan: &mut Plan) -> anyhow::Result<PathBuf> {
    let rendered = files::render(plan);
    let yaml = plan_yaml(plan)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let target = out.join(&plan.name);
    let pid = std::process::id();
    let tmp = out.join(format!(".{}.tmp-{pid}", plan.name));
    let old = out.join(format!(".{}.old-{pid}", plan.name));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> anyhow::Result<()> {
        for (name, content) in &rendered {
            std::fs::write(tmp.join(name), content).with_context(|| format!("writing {name}"))?;
        }
        std::fs::write(tmp.join("plan.yaml"), &yaml).context("writing plan.yaml")?;
        if target.exists() {
            std::fs::rename(&target, &old)
                .with_context(|| format!("moving the previous {} aside", target.display()))?;
        }
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("moving the new plan into {}", target.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if old.exists() && !target.exists() {
            let _ = std::fs::rename(&old, &target);
        }
    }
    result?;
    Ok(target)
}

/// plan.yaml text: a short header for humans, then the plan.
pub fn plan_yaml(plan: &Plan) -> anyhow::Result<String> {
    let body = serde_yaml_ng::to_string(plan).context("serializing plan.yaml")?;
    // The body's own checksum: an edit that changes no SQL (a table shape, a note) is caught too.
    Ok(format!(
        "# planner plan `{}`. Generated; do not edit (its sha256 identifies the plan once applied).\n# Step through it: planner status | apply --phase expand | backfill | verify | apply --phase contract\n# sha256 of what follows: {}\n{body}",
        plan.name,
        super::sha256_hex(body.as_bytes())
    ))
}
