//! The three URL forms of a Redis deployment. Single-node URLs are the redis crate's own
//! (`redis://`, `rediss://`, `redis+unix://`); Sentinel and Cluster URLs name several hosts in
//! one authority (`h1:p1,h2:p2`), which no URL parser accepts, so they are split by hand here.
use percent_encoding::percent_decode_str;

/// Where the servers are and how to authenticate, parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Single(String),
    Sentinel(SentinelTarget),
    Cluster(ClusterTarget),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelTarget {
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
    pub db: i64,
    /// TLS to the sentinels and to the data nodes (`rediss+sentinel://`).
    pub tls: bool,
    /// Credentials of the data nodes (the URL's user info).
    pub auth: Auth,
    /// Credentials of the sentinels (`?sentinel_username=…&sentinel_password=…`).
    pub sentinel_auth: Auth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterTarget {
    pub nodes: Vec<(String, u16)>,
    pub tls: bool,
    pub auth: Auth,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
}

const SENTINEL_PORT: u16 = 26379;
const NODE_PORT: u16 = 6379;

pub(crate) fn parse(url: &str) -> Result<Target, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(
            "not a URL: expected redis://, rediss://, redis+sentinel:// or redis+cluster://".into(),
        );
    };
    match scheme.to_ascii_lowercase().as_str() {
        "redis+sentinel" => parse_sentinel(rest, false),
        "rediss+sentinel" => parse_sentinel(rest, true),
        "redis+cluster" => parse_cluster(rest, false),
        "rediss+cluster" => parse_cluster(rest, true),
        "redis" | "rediss" | "redis+unix" | "unix" => {
            // The redis crate owns this form (db path, `?protocol=resp3`, …): let it judge.
            redis::Client::open(url).map_err(|e| e.to_string())?;
            Ok(Target::Single(url.to_string()))
        }
        other => Err(format!(
            "unknown scheme `{other}`: expected redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster"
        )),
    }
}

/// `[user:pass@]h1:p1,h2:p2/<master>[/db][?sentinel_username=…&sentinel_password=…]`
fn parse_sentinel(rest: &str, tls: bool) -> Result<Target, String> {
    let parts = split(rest)?;
    let sentinels = hosts(parts.hosts, SENTINEL_PORT)?;
    let mut segments = parts
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty());
    let master = match segments.next() {
        Some(m) => decode(m)?,
        None => return Err("a Sentinel URL names the master after the hosts: redis+sentinel://h1:26379,h2:26379/<master>".into()),
    };
    let db = match segments.next() {
        Some(d) => d
            .parse::<i64>()
            .map_err(|_| format!("`{d}` is not a database number"))?,
        None => 0,
    };
    if segments.next().is_some() {
        return Err("a Sentinel URL's path is /<master>[/db]".into());
    }
    let mut sentinel_auth = Auth::default();
    for (key, value) in url::form_urlencoded::parse(parts.query.as_bytes()) {
        match key.as_ref() {
            "sentinel_username" => sentinel_auth.username = Some(value.into_owned()),
            "sentinel_password" => sentinel_auth.password = Some(value.into_owned()),
            other => {
                return Err(format!(
                    "unknown parameter `{other}`: a Sentinel URL takes sentinel_username and sentinel_password"
                ))
            }
        }
    }
    Ok(Target::Sentinel(SentinelTarget {
        sentinels,
        master,
        db,
        tls,
        auth: parts.auth,
        sentinel_auth,
    }))
}

/// `[user:pass@]h1:p1,h2:p2,…` (a cluster has no databases).
fn parse_cluster(rest: &str, tls: bool) -> Result<Target, String> {
    let parts = split(rest)?;
    let nodes = hosts(parts.hosts, NODE_PORT)?;
    if !parts.path.trim_matches('/').is_empty() || !parts.query.is_empty() {
        return Err(
            "a Cluster URL takes no database and no parameters: redis+cluster://h1:6379,h2:6379"
                .into(),
        );
    }
    Ok(Target::Cluster(ClusterTarget {
        nodes,
        tls,
        auth: parts.auth,
    }))
}

struct Parts<'a> {
    auth: Auth,
    hosts: &'a str,
    path: &'a str,
    query: &'a str,
}

fn split(rest: &str) -> Result<Parts<'_>, String> {
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let (auth, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let auth = Auth {
                username: Some(decode(user)?).filter(|u| !u.is_empty()),
                password: password.map(decode).transpose()?,
            };
            (auth, hosts)
        }
        None => (Auth::default(), authority),
    };
    Ok(Parts {
        auth,
        hosts,
        path,
        query,
    })
}

/// `h1:p1,h2,[::1]:p3` → hosts with ports (the default when absent).
fn hosts(list: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, port) = if let Some(v6) = entry.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{entry}`: unclosed IPv6 bracket"))?;
            (host, after.strip_prefix(':'))
        } else {
            match entry.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (entry, None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{entry}`: empty host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("`{entry}`: `{p}` is not a port"))?,
            None => default_port,
        };
        out.push((host.to_string(), port));
    }
    if out.is_empty() {
        return Err("no hosts: list them as h1:port,h2:port".into());
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "user info is not UTF-8 after percent-decoding".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_urls_are_left_to_the_redis_crate() {
        assert_eq!(
            parse("redis://:pw@127.0.0.1:6379/2").unwrap(),
            Target::Single("redis://:pw@127.0.0.1:6379/2".into())
        );
        assert!(matches!(
            parse("rediss://h:6380").unwrap(),
            Target::Single(_)
        ));
        assert!(parse("redis://h:notaport").is_err());
        assert!(parse("http://h").is_err());
        assert!(parse("h:6379").is_err());
    }

    #[test]
    fn a_sentinel_url_names_sentinels_master_db_and_both_credentials() {
        let t = parse(
            "redis+sentinel://app:s%40cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/3?sentinel_password=sp&sentinel_username=su",
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Sentinel(SentinelTarget {
                sentinels: vec![
                    ("10.0.0.1".into(), 26379),
                    ("10.0.0.2".into(), 26379),
                    ("::1".into(), 26380)
                ],
                master: "mymaster".into(),
                db: 3,
                tls: false,
                auth: Auth {
                    username: Some("app".into()),
                    password: Some("s@cret".into())
                },
                sentinel_auth: Auth {
                    username: Some("su".into()),
                    password: Some("sp".into())
                },
            })
        );
        let Target::Sentinel(t) = parse("rediss+sentinel://:pw@h:1/m").unwrap() else {
            panic!("not sentinel");
        };
        assert!(t.tls);
        assert_eq!(t.db, 0);
        assert_eq!(t.auth.username, None);
        assert_eq!(t.auth.password.as_deref(), Some("pw"));
    }

    #[test]
    fn a_sentinel_url_without_master_or_with_unknown_parameters_is_refused() {
        assert!(parse("redis+sentinel://h1:26379,h2:26379").is_err());
        assert!(parse("redis+sentinel://h1:26379/m/x").is_err());
        assert!(parse("redis+sentinel://h1:26379/m?sentinel_pasword=x").is_err());
        assert!(parse("redis+sentinel:///m").is_err());
    }

    #[test]
    fn a_cluster_url_lists_nodes_and_takes_no_database() {
        assert_eq!(
            parse("redis+cluster://u:p@a:7000,b:7001,c").unwrap(),
            Target::Cluster(ClusterTarget {
                nodes: vec![("a".into(), 7000), ("b".into(), 7001), ("c".into(), 6379)],
                tls: false,
                auth: Auth {
                    username: Some("u".into()),
                    password: Some("p".into())
                },
            })
        );
        assert!(parse("redis+cluster://a:7000/1").is_err());
        assert!(parse("redis+cluster://a:7000?x=1").is_err());
        assert!(parse("redis+cluster://a:70000").is_err());
    }
}
