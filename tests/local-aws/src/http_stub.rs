//! Test servers on loopback: an HTTP stub whose answers a test scripts (status, body,
//! delay, or a dropped connection), and a fault proxy that sits in front of another server
//! (moto) and can rewrite requests and responses — for the failures moto cannot produce.
//! HTTP/1.1 with Content-Length bodies and keep-alive: what the AWS SDK and reqwest send.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct StubRequest {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct StubResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (to provoke client timeouts).
    pub delay: Duration,
    /// Close the connection without answering.
    pub drop_connection: bool,
}

impl StubResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            drop_connection: false,
        }
    }
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        let mut r = Self::new(status, body.to_string());
        r.headers
            .push(("content-type".into(), "application/json".into()));
        r
    }
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn dropped() -> Self {
        let mut r = Self::new(0, "");
        r.drop_connection = true;
        r
    }
}

async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<StubRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(StubRequest {
        method,
        path,
        headers,
        body,
    }))
}

async fn write_response(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    response: &StubResponse,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        if !k.eq_ignore_ascii_case("content-length")
            && !k.eq_ignore_ascii_case("transfer-encoding")
            && !k.eq_ignore_ascii_case("connection")
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(&response.body).await?;
    writer.flush().await
}

type Handler =
    Arc<dyn Fn(StubRequest) -> futures::future::BoxFuture<'static, StubResponse> + Send + Sync>;

async fn serve(listener: TcpListener, handler: Handler) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut reader = BufReader::new(read);
            while let Ok(Some(request)) = read_request(&mut reader).await {
                let close = request
                    .headers
                    .get("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                let response = handler(request).await;
                if !response.delay.is_zero() {
                    tokio::time::sleep(response.delay).await;
                }
                if response.drop_connection
                    || write_response(&mut write, &response).await.is_err()
                    || close
                {
                    return;
                }
            }
        });
    }
}

/// An HTTP server on 127.0.0.1 answering with `handler`. Runs until the test's runtime ends.
pub struct HttpStub {
    addr: SocketAddr,
}

impl HttpStub {
    pub async fn start<F, Fut>(handler: F) -> std::io::Result<Self>
    where
        F: Fn(StubRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = StubResponse> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
        tokio::spawn(serve(listener, handler));
        Ok(Self { addr })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Forward one request to `upstream` (`host:port`) and read the whole response. The
/// client's `host` header is kept: it is part of what SigV4 signs, and a server that checks
/// signatures (the demo's IAM-enforcing moto) recomputes them with it.
pub async fn forward(upstream: &str, request: &StubRequest) -> std::io::Result<StubResponse> {
    let mut stream = TcpStream::connect(upstream).await?;
    let host = request
        .headers
        .get("host")
        .map(String::as_str)
        .unwrap_or(upstream);
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (k, v) in &request.headers {
        if k != "content-length" && k != "connection" && k != "host" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!(
        "host: {host}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        request.body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&request.body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    Ok(StubResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
        delay: Duration::ZERO,
        drop_connection: false,
    })
}

/// Rewrites a request before forwarding; returns state for the response hook, or a
/// response to answer with directly (the request is then not forwarded).
pub type RequestHook =
    Arc<dyn Fn(&mut StubRequest) -> Result<Option<serde_json::Value>, StubResponse> + Send + Sync>;
/// Rewrites the upstream response, given the request hook's state.
pub type ResponseHook =
    Arc<dyn Fn(&StubRequest, Option<serde_json::Value>, &mut StubResponse) + Send + Sync>;

/// A proxy in front of `upstream` whose hooks inject faults.
pub struct FaultProxy {
    stub: HttpStub,
}

impl FaultProxy {
    pub async fn start(
        upstream: &str,
        on_request: RequestHook,
        on_response: ResponseHook,
    ) -> std::io::Result<Self> {
        Self::start_serializing(upstream, on_request, on_response, Arc::new(|_| false)).await
    }

    /// Like [`FaultProxy::start`], but requests for which `serialize` is true reach the
    /// upstream one at a time (moto's Kinesis loses records under concurrent PutRecords).
    pub async fn start_serializing(
        upstream: &str,
        on_request: RequestHook,
        on_response: ResponseHook,
        serialize: Arc<dyn Fn(&StubRequest) -> bool + Send + Sync>,
    ) -> std::io::Result<Self> {
        let one_at_a_time = Arc::new(tokio::sync::Mutex::new(()));
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let stub = HttpStub::start(move |mut request| {
            let upstream = upstream.clone();
            let on_request = on_request.clone();
            let on_response = on_response.clone();
            let serialize = serialize.clone();
            let one_at_a_time = one_at_a_time.clone();
            async move {
                let state = match on_request(&mut request) {
                    Ok(state) => state,
                    Err(direct) => return direct,
                };
                let _turn = if serialize(&request) {
                    Some(one_at_a_time.lock().await)
                } else {
                    None
                };
                match forward(&upstream, &request).await {
                    Ok(mut response) => {
                        on_response(&request, state, &mut response);
                        response
                    }
                    Err(e) => StubResponse::new(502, format!("proxy: {e}")),
                }
            }
        })
        .await?;
        Ok(Self { stub })
    }

    pub fn url(&self) -> String {
        self.stub.url()
    }
}
