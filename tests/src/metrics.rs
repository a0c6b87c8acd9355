//! Reading a host's Prometheus endpoint in tests.

/// The text a `GET` of `url` returns; panics unless it is 200.
pub fn scrape(url: &str) -> String {
    let mut response = crate::Host::agent().get(url).call().expect("scrape");
    assert_eq!(response.status(), 200);
    response.body_mut().read_to_string().expect("metrics text")
}

/// The sum of the samples of `name` whose labels include every pair in `labels` (0 when none).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = metric == name
                && labels
                    .iter()
                    .all(|(key, value)| label_text.contains(&format!("{key}=\"{value}\"")));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}
