//! `${VAR}` and `${VAR:-default}` references in connector files, expanded from the
//! environment in one place so that secrets and URLs never live in the files.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set and has no default (write ${{{0}:-default}})")]
    Missing(String),
    #[error("unterminated ${{…}} reference")]
    Unterminated,
    #[error("empty variable name in ${{}}")]
    EmptyName,
}

/// Expands references in `raw` with `lookup`. `$$` stands for a literal `$`.
pub fn expand_env(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or(EnvError::Unterminated)?;
            let reference = &body[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if name.is_empty() {
                return Err(EnvError::EmptyName);
            }
            match lookup(name).filter(|v| !v.is_empty()) {
                Some(value) => out.push_str(&value),
                None => out.push_str(default.ok_or_else(|| EnvError::Missing(name.to_owned()))?),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Looks variables up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        (name == "HOST").then(|| "core.bank".to_owned())
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(
            expand_env("https://${HOST}/v1?x=${PORT:-443}", &lookup).unwrap(),
            "https://core.bank/v1?x=443"
        );
    }

    #[test]
    fn missing_variable_without_default_names_it() {
        assert_eq!(
            expand_env("${TOKEN}", &lookup),
            Err(EnvError::Missing("TOKEN".into()))
        );
    }

    #[test]
    fn dollar_escapes_and_bare_dollars_stay() {
        assert_eq!(expand_env("a$$b $5", &lookup).unwrap(), "a$b $5");
        assert_eq!(expand_env("${HOST", &lookup), Err(EnvError::Unterminated));
    }
}
