//! `--build`: runs each component's `[component.X.build]` commands, as `spin build` does.

use crate::app::manifest::Manifest;
use anyhow::{Context, bail};
use std::process::Command;

pub fn build_all(manifest: &Manifest) -> anyhow::Result<()> {
    for (id, component) in &manifest.components {
        let Some(build) = &component.build else {
            continue;
        };
        let workdir = match &build.workdir {
            Some(dir) => manifest.resolve_path(dir),
            None => manifest.dir.clone(),
        };
        for command in build.command.iter() {
            tracing::info!("building component `{id}`: {command}");
            let status = Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(&workdir)
                .status()
                .with_context(|| format!("cannot run the build command of component `{id}`"))?;
            if !status.success() {
                bail!("build command of component `{id}` failed ({status}): {command}");
            }
        }
    }
    Ok(())
}
