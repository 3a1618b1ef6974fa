//! Test support shared by Renkei's integration tests (dev-dependency only).
//!
//! - [`Browser`]: a real headless Chromium driven over the W3C WebDriver protocol through
//!   Debian's `chromedriver` (`RENKEI_TEST_CHROMEDRIVER`, `RENKEI_TEST_CHROMIUM`). A test that
//!   cannot start the browser fails; it never skips.
//! - [`free_port`]: an unused loopback port.
//!
//! The WebDriver client is deliberately small: the handful of commands the tests use, spoken
//! as JSON over HTTP on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// Errors of the test browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// chromedriver/chromium could not be started.
    #[error("cannot start the browser: {0}")]
    Start(String),
    /// A WebDriver command failed.
    #[error("webdriver {command}: {message}")]
    Command {
        /// The command.
        command: String,
        /// The driver's message.
        message: String,
    },
    /// Waiting for a condition timed out.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// HTTP transport error.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
}

/// An unused TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("addr")
        .port()
}

fn env_path(var: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(fallback))
}

/// A headless Chromium session. Dropping it ends the session and the driver process.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempdir::Dir,
}

mod tempdir {
    /// A temporary directory removed on drop (a fresh Chromium profile).
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A located element.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Start chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Result<Self, BrowserError> {
        let driver_path = env_path("RENKEI_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = env_path("RENKEI_TEST_CHROMIUM", "/usr/bin/chromium");
        for p in [&driver_path, &chromium] {
            if !p.exists() {
                return Err(BrowserError::Start(format!(
                    "{} not found: install Debian's chromium and chromium-driver (bash .ci/setup)",
                    p.display()
                )));
            }
        }
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BrowserError::Start(format!("{}: {e}", driver_path.display())))?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Start("chromedriver did not answer".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("renkei-chromium-{}-{port}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                         "--window-size=1280,1024", "--lang=ja-JP",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let mut me = Self {
            driver,
            base,
            session: String::new(),
            http,
            _profile: tempdir::Dir(profile),
        };
        let v = me.call("POST", "/session", Some(caps)).await?;
        me.session = v["sessionId"]
            .as_str()
            .ok_or_else(|| BrowserError::Start(format!("no session id in {v}")))?
            .to_owned();
        Ok(me)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BrowserError> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp: Value = req.send().await?.json().await?;
        let value = resp.get("value").cloned().unwrap_or(Value::Null);
        if let Some(err) = value.get("error").and_then(Value::as_str) {
            return Err(BrowserError::Command {
                command: format!("{method} {path}"),
                message: format!(
                    "{err}: {}",
                    value.get("message").and_then(Value::as_str).unwrap_or("")
                ),
            });
        }
        Ok(value)
    }

    /// Navigate to a URL.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.call("POST", "/url", Some(json!({"url": url})))
            .await
            .map(drop)
    }

    /// The current URL.
    pub async fn url(&self) -> Result<String, BrowserError> {
        Ok(self
            .call("GET", "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The page's visible text. A page that navigates between finding its body and reading it
    /// leaves a stale element: the new page's body is read then (a few tries).
    pub async fn text(&self) -> Result<String, BrowserError> {
        let mut tries = 0;
        loop {
            let body = self.find("body").await?;
            match self.element_text(&body).await {
                Err(BrowserError::Command { message, .. })
                    if message.contains("stale element") && tries < 5 =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// The page source.
    pub async fn source(&self) -> Result<String, BrowserError> {
        Ok(self
            .call("GET", "/source", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Find one element by CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element, BrowserError> {
        let v = self
            .call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        element_id(&v).ok_or_else(|| BrowserError::Command {
            command: format!("find {css}"),
            message: v.to_string(),
        })
    }

    /// Find every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, BrowserError> {
        let v = self
            .call(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(element_id).collect())
            .unwrap_or_default())
    }

    /// Wait until an element matching `css` exists.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(e) = self.find(css).await {
                return Ok(e);
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Timeout(css.to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the page text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str, timeout: Duration) -> Result<(), BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .text()
                .await
                .map(|t| t.contains(needle))
                .unwrap_or(false)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Timeout(format!("text {needle:?}")));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Click an element.
    pub async fn click(&self, e: &Element) -> Result<(), BrowserError> {
        self.call("POST", &format!("/element/{}/click", e.0), None)
            .await
            .map(drop)
    }

    /// Click the element matching `css`.
    pub async fn click_css(&self, css: &str) -> Result<(), BrowserError> {
        let e = self.find(css).await?;
        self.click(&e).await
    }

    /// Clear a field and type into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<(), BrowserError> {
        let e = self.find(css).await?;
        self.call("POST", &format!("/element/{}/clear", e.0), None)
            .await?;
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .await
        .map(drop)
    }

    /// Send a file path to an `<input type=file>`.
    pub async fn upload(&self, css: &str, path: &Path) -> Result<(), BrowserError> {
        let e = self.find(css).await?;
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({"text": path.display().to_string()})),
        )
        .await
        .map(drop)
    }

    /// Visible text of an element.
    pub async fn element_text(&self, e: &Element) -> Result<String, BrowserError> {
        Ok(self
            .call("GET", &format!("/element/{}/text", e.0), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Run JavaScript and return its result.
    pub async fn execute(&self, script: &str) -> Result<Value, BrowserError> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Run asynchronous JavaScript: the script calls `done(value)` (the last argument) to finish.
    pub async fn execute_async(&self, script: &str) -> Result<Value, BrowserError> {
        let wrapped = format!("const done = arguments[arguments.length - 1]; {script}");
        self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": wrapped, "args": []})),
        )
        .await
    }

    /// Errors logged to the browser console so far (uncaught exceptions, failed scripts).
    /// Collected by a listener installed with [`Browser::watch_errors`].
    pub async fn js_errors(&self) -> Result<Vec<String>, BrowserError> {
        let v = self
            .execute("return (window.__renkeiErrors || []).slice();")
            .await?;
        Ok(v.as_array()
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default())
    }

    /// Install an error listener on the current page (call after each navigation).
    pub async fn watch_errors(&self) -> Result<(), BrowserError> {
        self.execute(
            "window.__renkeiErrors = window.__renkeiErrors || [];\
             window.addEventListener('error', e => window.__renkeiErrors.push(String(e.message)));\
             window.addEventListener('unhandledrejection', e => window.__renkeiErrors.push(String(e.reason)));\
             return true;",
        )
        .await
        .map(drop)
    }

    /// Save a PNG screenshot of the viewport.
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        let v = self.call("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| BrowserError::Command {
                command: "screenshot".into(),
                message: e.to_string(),
            })?;
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, png).map_err(|e| BrowserError::Command {
            command: "screenshot".into(),
            message: e.to_string(),
        })
    }

    /// Print the current page to PDF (Chromium's print engine), returning the bytes.
    pub async fn print_pdf(&self) -> Result<Vec<u8>, BrowserError> {
        let v = self
            .call("POST", "/print", Some(json!({"orientation": "landscape"})))
            .await?;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| BrowserError::Command {
                command: "print".into(),
                message: e.to_string(),
            })
    }
}

fn element_id(v: &Value) -> Option<Element> {
    v.as_object()?
        .values()
        .next()?
        .as_str()
        .map(|s| Element(s.to_owned()))
}

impl Browser {
    /// End the WebDriver session (closes Chromium) and stop the driver.
    pub async fn quit(self) {
        let _ = self.call("DELETE", "", None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Stop the driver, and any Chromium left running with this session's profile.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self._profile.0.as_os_str())
            .status();
    }
}
