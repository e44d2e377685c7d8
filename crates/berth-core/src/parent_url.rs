//! Rewriting the parent URL so a job container reaches its parent over the Docker network
//! (spec §6.4): the host becomes the site name (the parent container's name), the scheme
//! and connection security are checked, and a `shared-file` URL is kept and its folder
//! mounted.

use crate::args::{keys, JobProcessArgs};
use crate::pyval;
use crate::{Error, Result};
use serde_json::Value;

/// The shared-file transport's scheme.
pub const SHARED_FILE_SCHEME: &str = "shared-file";

/// The args the job gets, and the shared-file folder to mount, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentRewrite {
    pub args: JobProcessArgs,
    pub shared_file_dir: Option<String>,
}

/// A URL split the way Python's `urllib.parse.urlsplit` splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SplitUrl<'a> {
    scheme: String,
    netloc: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn split_url(url: &str) -> SplitUrl<'_> {
    let mut scheme = String::new();
    let mut rest = url;
    if let Some(colon) = url.find(':') {
        let candidate = &url[..colon];
        let valid = candidate.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            scheme = candidate.to_ascii_lowercase();
            rest = &url[colon + 1..];
        }
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(slash) => (&after[..slash], &after[slash..]),
            None => (after, ""),
        },
        None => ("", rest),
    };
    SplitUrl {
        scheme,
        netloc,
        path,
        query,
        fragment,
    }
}

/// Host and port of a netloc, as Python's `.hostname` / `.port`: user-info dropped, IPv6
/// brackets removed, port parsed and range-checked. `Err(())` where Python raises.
fn host_and_port(netloc: &str) -> std::result::Result<(String, Option<u16>), ()> {
    let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
        let (inside, tail) = after.split_once(']').ok_or(())?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or(())?),
        };
        (inside, port)
    } else {
        if hostport.contains(']') {
            return Err(());
        }
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.chars().all(|c| c.is_ascii_digit()) => Some(p.parse::<u16>().map_err(|_| ())?),
        Some(_) => return Err(()),
    };
    Ok((host.to_ascii_lowercase(), port))
}

fn pair_of<'a>(args: &'a JobProcessArgs, name: &str, what: &str) -> Result<Option<(&'a Value, &'a Value)>> {
    match args.raw(name) {
        None => Ok(None),
        Some(Value::Array(items)) if items.len() == 2 => Ok(Some((&items[0], &items[1]))),
        Some(other) => Err(Error::invalid(format!(
            "malformed {what} in JOB_PROCESS_ARGS: expected [flag, value], got {}",
            pyval::repr(other)
        ))),
    }
}

/// Rewrite `parent_url` for a job of `site`. The input is not changed; a copy is returned.
pub fn rewrite_parent_url(args: &JobProcessArgs, site: &str) -> Result<ParentRewrite> {
    let unchanged = || ParentRewrite {
        args: args.clone(),
        shared_file_dir: None,
    };
    if pyval::truthy(args.raw(keys::PARENT_URL)).is_none() {
        return Ok(unchanged());
    }
    let Some((flag, url_value)) = pair_of(args, keys::PARENT_URL, "parent_url")? else {
        return Ok(unchanged());
    };
    let security = match pair_of(args, keys::PARENT_CONN_SEC, "parent_conn_sec")? {
        None => "clear".to_string(),
        Some((_, v)) => pyval::python_str(v).unwrap_or_else(|| "None".into()),
    };
    if security != "clear" && security != "mtls" {
        return Err(Error::invalid(format!(
            "Docker job launch requires clear or mTLS parent connection security, got '{}'",
            pyval::shorten(&security, 40)
        ))
        .with_hint("set the parent's internal connection security to 'clear' or 'mtls'"));
    }
    let url = pyval::python_str(url_value).unwrap_or_default();
    let invalid_url = || Error::invalid(format!("invalid parent URL '{}'", pyval::shorten(&url, 200)));
    let parts = split_url(&url);

    if parts.scheme == SHARED_FILE_SCHEME {
        if security != "clear" {
            return Err(Error::invalid(
                "shared-file parent URL scheme does not match parent connection security",
            )
            .with_hint("the shared-file transport runs with 'clear' connection security"));
        }
        let detail = if parts.netloc != "0" {
            Some("the authority must be '0'")
        } else if parts.path.trim_end_matches('/').is_empty() || !parts.path.starts_with('/') {
            Some("the path must be a non-empty absolute directory")
        } else {
            None
        };
        if let Some(detail) = detail {
            return Err(Error::invalid(format!(
                "invalid shared-file parent URL '{}': {detail}",
                pyval::shorten(&url, 200)
            )));
        }
        let dir = parts.path.trim_end_matches('/').to_string();
        return Ok(ParentRewrite {
            args: args.clone(),
            shared_file_dir: Some(dir),
        });
    }

    let (host, port) = host_and_port(parts.netloc).map_err(|_| invalid_url())?;
    let scheme_ok = parts.scheme == "tcp" || parts.scheme == "stcp";
    let port = match port {
        Some(p) if p != 0 && scheme_ok && !host.is_empty() => p,
        _ => {
            return Err(Error::invalid(format!(
                "parent URL must use shared-file, tcp, or stcp with a host and port, got '{}'",
                pyval::shorten(&url, 200)
            ))
            .with_hint("for example tcp://localhost:8004 (clear) or stcp://localhost:8004 (mtls)"))
        }
    };
    let expected = if parts.scheme == "stcp" { "mtls" } else { "clear" };
    if security != expected {
        return Err(Error::invalid(format!(
            "parent URL scheme does not match parent connection security: {} needs {expected}, got {security}",
            parts.scheme
        )));
    }
    let mut rewritten = format!("{}://{site}:{port}{}", parts.scheme, parts.path);
    if let Some(q) = parts.query {
        rewritten.push('?');
        rewritten.push_str(q);
    }
    if let Some(f) = parts.fragment {
        rewritten.push('#');
        rewritten.push_str(f);
    }
    Ok(ParentRewrite {
        args: args.with(keys::PARENT_URL, &flag_text(flag), Value::String(rewritten)),
        shared_file_dir: None,
    })
}

fn flag_text(flag: &Value) -> String {
    pyval::python_str(flag).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    fn args(url: Value, sec: Option<Value>) -> JobProcessArgs {
        let mut m = json!({"parent_url": ["-p", url]});
        if let Some(s) = sec {
            m["parent_conn_sec"] = json!(["--parent_conn_sec", s]);
        }
        JobProcessArgs::from_map(m.as_object().unwrap().clone())
    }

    fn rewritten(url: &str, sec: Option<&str>) -> Result<String> {
        let r = rewrite_parent_url(&args(json!(url), sec.map(|s| json!(s))), "site-1")?;
        Ok(r.args
            .pair("parent_url")?
            .unwrap()
            .1
            .as_str()
            .unwrap()
            .to_string())
    }

    fn err(url: &str, sec: Option<&str>) -> Error {
        rewritten(url, sec).unwrap_err()
    }

    // C067
    #[test]
    fn tcp_host_becomes_site() {
        assert_eq!(
            rewritten("tcp://localhost:8004", None).unwrap(),
            "tcp://site-1:8004"
        );
        assert_eq!(
            rewritten("TCP://user:pw@[::1]:8004", Some("clear")).unwrap(),
            "tcp://site-1:8004"
        );
    }

    // C068
    #[test]
    fn stcp_keeps_path_and_query() {
        assert_eq!(
            rewritten("stcp://localhost:8004/path?option=value", Some("mtls")).unwrap(),
            "stcp://site-1:8004/path?option=value"
        );
    }

    // C069–C072
    #[test]
    fn security_and_scheme_checks() {
        for (url, sec, phrase) in [
            ("stcp://localhost:8004", Some("clear"), "does not match"),
            ("tcp://localhost:8004", Some("mtls"), "does not match"),
            ("tcp://localhost:8004", Some("tls"), "requires clear or mTLS"),
            ("tcp://localhost:8004", Some("CLEAR"), "requires clear or mTLS"),
            (
                "http://localhost:8004",
                Some("clear"),
                "must use shared-file, tcp, or stcp",
            ),
            (
                "grpc://localhost:8004",
                None,
                "must use shared-file, tcp, or stcp",
            ),
            ("tcp://localhost", None, "must use shared-file, tcp, or stcp"),
            ("tcp://localhost:0", None, "must use shared-file, tcp, or stcp"),
            ("tcp://:8004", None, "must use shared-file, tcp, or stcp"),
            ("localhost:8004", None, "must use shared-file, tcp, or stcp"),
            ("tcp://localhost:99999", None, "invalid parent URL"),
            ("tcp://localhost:abc", None, "invalid parent URL"),
            ("tcp://[::1:8004", None, "invalid parent URL"),
        ] {
            let e = err(url, sec);
            assert_eq!(e.kind(), ErrorKind::Invalid, "{url}");
            assert!(e.message().contains(phrase), "{url}: {e}");
        }
    }

    // C073
    #[test]
    fn shared_file_is_kept_and_its_dir_returned() {
        let url = "shared-file://0/lustre/nvflare/cellnet/lst_12345678?poll_interval=0.05";
        let r = rewrite_parent_url(&args(json!(url), None), "site-1").unwrap();
        assert_eq!(
            r.shared_file_dir.as_deref(),
            Some("/lustre/nvflare/cellnet/lst_12345678")
        );
        assert_eq!(r.args.pair("parent_url").unwrap().unwrap().1, json!(url));
    }

    // C074
    #[test]
    fn malformed_shared_file_urls() {
        for url in [
            "shared-file://lustre/not-placeholder",
            "shared-file://0/",
            "shared-file://0",
        ] {
            assert!(
                err(url, None)
                    .message()
                    .contains("invalid shared-file parent URL"),
                "{url}"
            );
        }
        assert!(err("shared-file://0/x", Some("mtls"))
            .message()
            .contains("does not match"));
    }

    #[test]
    fn missing_or_empty_url_is_left_alone() {
        let none = JobProcessArgs::default();
        assert_eq!(rewrite_parent_url(&none, "s").unwrap().args, none);
        let empty = args(json!(""), None);
        // An entry whose value is empty is still a truthy two-item entry: it fails the scheme check.
        assert!(rewrite_parent_url(&empty, "s")
            .unwrap_err()
            .message()
            .contains("must use"));
    }

    #[test]
    fn malformed_entries() {
        let bad = JobProcessArgs::from_map(json!({"parent_url": "tcp://x:1"}).as_object().unwrap().clone());
        assert!(rewrite_parent_url(&bad, "s")
            .unwrap_err()
            .message()
            .contains("malformed parent_url"));
        let bad_sec = JobProcessArgs::from_map(
            json!({"parent_url": ["-p", "tcp://x:1"], "parent_conn_sec": null})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(rewrite_parent_url(&bad_sec, "s")
            .unwrap_err()
            .message()
            .contains("malformed parent_conn_sec"));
    }
}
