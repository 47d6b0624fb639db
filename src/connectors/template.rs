//! The templates of a connector spec: an endpoint's path, query values and body
//! strings, with `{name}` placeholders. [`super::compile`] checks at start that they
//! name only parameters the hub passes; [`super::RestConnector`] fills them on every
//! call. Both read the placeholder syntax from here, so they cannot disagree on it.

use std::collections::BTreeMap;

use serde_json::Value;

/// The templates of a request body, each with the dotted key that names it in
/// problems: every string in it, however deep.
pub fn collect_body_templates(value: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((key.to_owned(), s.clone())),
        Value::Object(map) => {
            for (k, v) in map {
                collect_body_templates(v, &format!("{key}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_body_templates(v, &format!("{key}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The `{name}` placeholders of a template.
pub fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in '{template}'"))?;
        let name = &after[..end];
        if name.is_empty() {
            return Err(format!("empty placeholder in '{template}'"));
        }
        names.push(name.to_owned());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// Fills `{name}` placeholders; `None` when an optional (`{name?}`) one is absent,
/// an error naming a required one that is absent.
pub fn render(
    template: &str,
    values: &BTreeMap<String, String>,
    encode: bool,
) -> Result<Option<String>, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').unwrap_or(after.len());
        let raw = &after[..end];
        let (name, optional) = match raw.strip_suffix('?') {
            Some(name) => (name, true),
            None => (raw, false),
        };
        match values.get(name) {
            Some(value) if encode => {
                out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()))
            }
            Some(value) => out.push_str(value),
            None if optional => return Ok(None),
            None => return Err(format!("parameter '{name}' is required")),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_encode() {
        let mut values = BTreeMap::new();
        values.insert("account".to_owned(), "62 17/1".to_owned());
        assert_eq!(
            render("/accounts/{account}/t", &values, true)
                .unwrap()
                .unwrap(),
            "/accounts/62+17%2F1/t"
        );
        assert_eq!(render("{from?}", &values, false).unwrap(), None);
        assert!(render("{from}", &values, false).is_err());
    }
}
