//! The debug page in a real browser: headless Chromium (Debian's `chromium`, driven through
//! `chromium-driver` over WebDriver) loads `/debug` from the real host, mints a development token,
//! connects both panes, sends a mutation from one and sees its relay arrive in the other — through
//! the embedded gateway and through real Pushpin. Each run saves a screenshot under
//! `target/artifacts/`.

use e2e::{Host, HostConfig, app_manifest, workspace_root};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the page may take for anything a test waits on.
const PAGE_DEADLINE: Duration = Duration::from_secs(30);

/// `chromedriver` on a loopback port of its own, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver and waits for the line saying it listens.
    fn start() -> Driver {
        let port = e2e::pushpin::five_ports()[0];
        let mut child = Command::new("chromedriver")
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (install the Debian packages chromium and chromium-driver)");
        e2e::await_ready_line(&mut child, "started successfully").expect("chromedriver");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1400,1000"],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A host serving the debug page, through Pushpin or the embedded gateway.
fn host(through_pushpin: bool) -> Host {
    HostConfig::new(app_manifest())
        .through_pushpin(through_pushpin)
        .env("SPIN_VARIABLE_DEBUG_PAGE", "on")
        // The page is served from the host's own (random) port.
        .env("SPIN_VARIABLE_ALLOWED_ORIGINS", "*")
        .start()
        .unwrap()
}

async fn text_of(browser: &Client, id: &str) -> String {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until element `id`'s text satisfies `done`; WebDriver has no events to await, so this
/// asks the page again until the deadline.
async fn wait_for_text(browser: &Client, id: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PAGE_DEADLINE;
    loop {
        let text = text_of(browser, id).await;
        if done(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "#{id} never showed what was expected; it shows {text:?}"
        );
        tokio::task::yield_now().await;
    }
}

async fn relay_between_two_panes(through_pushpin: bool, artifact: &str) {
    let driver = Driver::start();
    let host = host(through_pushpin);
    let browser = driver.browser().await;
    let page = format!("{}/debug?gateway={}", host.url, host.gateway_url);
    browser.goto(&page).await.unwrap();

    let health = wait_for_text(&browser, "health", |t| t.starts_with("200")).await;
    assert!(health.contains("\"healthy\""), "{health}");
    let mint = browser
        .wait()
        .at_most(PAGE_DEADLINE)
        .for_element(Locator::Css("#mint:not([hidden])"))
        .await
        .unwrap();
    mint.click().await.unwrap();
    wait_for_text(&browser, "mint-status", |t| t.starts_with("minted")).await;

    for pane in ["a", "b"] {
        browser
            .find(Locator::Id(&format!("connect-{pane}")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_text(&browser, &format!("state-{pane}"), |t| t == "open").await;
        // Connected and caught up: its cursor shows.
        wait_for_text(&browser, &format!("cursor-{pane}"), |t| t != "–").await;
    }
    let a_connection = text_of(&browser, "connection-a").await;
    let b_connection = text_of(&browser, "connection-b").await;
    assert!(a_connection.len() > 8 && a_connection != b_connection);

    browser
        .find(Locator::Id("send-a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let ack = wait_for_text(&browser, "ack-latency-a", |t| t.ends_with(')')).await;
    let relay = wait_for_text(&browser, "relay-latency-b", |t| t.contains(" ms (debug-a-")).await;
    assert!(ack.contains("seq 1"), "{ack}");
    assert!(relay.contains("seq 1"), "{relay}");
    let log_b = text_of(&browser, "log-b").await;
    assert!(
        log_b.contains("ENTRY_CREATED"),
        "the relay is in B's frame log:\n{log_b}"
    );
    let log_a = text_of(&browser, "log-a").await;
    assert!(
        log_a.contains("→") && log_a.contains("Mutation applied"),
        "{log_a}"
    );
    assert_eq!(
        text_of(&browser, "pending-a").await,
        "0",
        "A's outbox emptied on the ack"
    );

    let screenshot = browser.screenshot().await.unwrap();
    let directory = workspace_root().join("target/artifacts");
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(directory.join(artifact), &screenshot).unwrap();
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG screenshot");
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_debug_page_relays_between_its_panes_through_the_embedded_gateway() {
    relay_between_two_panes(false, "debug-page-embedded.png").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_debug_page_relays_between_its_panes_through_pushpin() {
    relay_between_two_panes(true, "debug-page-pushpin.png").await;
}

#[test]
fn the_debug_page_is_off_unless_enabled_and_off_in_production_unless_said_so() {
    let status = |env: &[(&str, &str)]| {
        let mut config = HostConfig::new(app_manifest()).through_pushpin(false);
        for (name, value) in env {
            config = config.env(name, value);
        }
        let host = config.start().unwrap();
        (
            host.get("/debug").status,
            host.post("/debug/dev-token", r#"{"userId":"x"}"#).status,
        )
    };
    assert_eq!(status(&[]), (404, 404), "off by default");
    let production = [
        ("SPIN_VARIABLE_ENVIRONMENT", "production"),
        (
            "SPIN_VARIABLE_GRIP_KEY",
            "production-grip-key-0123456789abcdef-0123",
        ),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut env = production.to_vec();
        env.push(extra);
        env
    };
    assert_eq!(
        status(&with(("SPIN_VARIABLE_DEBUG_PAGE", "on"))),
        (404, 404),
        "`on` stays off in production"
    );
    assert_eq!(
        status(&with(("SPIN_VARIABLE_DEBUG_PAGE", "production"))),
        (200, 403),
        "served when said so, but no token minting outside local"
    );
}
