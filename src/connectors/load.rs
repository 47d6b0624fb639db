//! Loading connector specs: the four files from the connector folder (or the copies
//! built into the binary), each compiled by [`super::compile`] with `lookup` resolving
//! its `${VAR}` references, and every problem of every file gathered into one error.

use std::fmt;
use std::path::Path;

use super::compile::{compile, CompiledSpec, SpecError};
use crate::config::ConnectorsConfig;
use crate::domain::System;

/// The specs shipped in `connectors/`, built into the binary so that `c360 demo` runs
/// from anywhere.
pub fn embedded_specs() -> [(System, &'static str); 4] {
    [
        (System::Core, include_str!("../../connectors/core.toml")),
        (System::Cards, include_str!("../../connectors/cards.toml")),
        (System::Loans, include_str!("../../connectors/loans.toml")),
        (
            System::Channels,
            include_str!("../../connectors/channels.toml"),
        ),
    ]
}

/// Every problem found, so an operator fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Loads the four specs from `config.dir`, or the built-in ones when that folder does
/// not exist and is the default. `lookup` resolves `${VAR}` references.
pub fn load(
    config: &ConnectorsConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CompiledSpec>, SpecErrors> {
    let sources: Vec<(System, String, String)> = if config.dir.is_dir() {
        read_dir(&config.dir)?
    } else if config.dir == ConnectorsConfig::default().dir {
        tracing::info!(dir = %config.dir.display(), "connector folder not found; using the built-in connector specs");
        embedded_specs()
            .into_iter()
            .map(|(system, text)| (system, format!("<built-in>/{system}.toml"), text.to_owned()))
            .collect()
    } else {
        return Err(SpecErrors(vec![SpecError {
            file: config.dir.display().to_string(),
            key: String::new(),
            problem: "connector folder does not exist".into(),
        }]));
    };
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for (system, file, text) in sources {
        match compile(system, &file, &text, config, lookup) {
            Ok(spec) => specs.push(spec),
            Err(mut problems) => errors.append(&mut problems),
        }
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(SpecErrors(errors))
    }
}

fn read_dir(dir: &Path) -> Result<Vec<(System, String, String)>, SpecErrors> {
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        SpecErrors(vec![SpecError {
            file: dir.display().to_string(),
            key: String::new(),
            problem: format!("cannot read the folder: {e}"),
        }])
    })?;
    let mut seen = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let file = path.display().to_string();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match stem.parse::<System>() {
            Ok(system) => match std::fs::read_to_string(&path) {
                Ok(text) => {
                    seen.push(system);
                    sources.push((system, file, text));
                }
                Err(e) => errors.push(SpecError {
                    file,
                    key: String::new(),
                    problem: format!("cannot read: {e}"),
                }),
            },
            Err(e) => errors.push(SpecError {
                file,
                key: String::new(),
                problem: format!("{e}: connector files are named after their system"),
            }),
        }
    }
    for system in System::ALL.into_iter().filter(|s| !seen.contains(s)) {
        errors.push(SpecError {
            file: dir.join(format!("{system}.toml")).display().to_string(),
            key: String::new(),
            problem: "missing: every system needs its connector file".into(),
        });
    }
    sources.sort_by_key(|(system, _, _)| *system);
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(SpecErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn shipped_specs_compile_from_the_folder_and_built_in() {
        let config = ConnectorsConfig {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors"),
            ..ConnectorsConfig::default()
        };
        let specs = load(&config, &no_env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(specs.len(), 4);
        for (system, text) in embedded_specs() {
            compile(
                system,
                "built-in",
                text,
                &ConnectorsConfig::default(),
                &no_env,
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
        }
    }
}
