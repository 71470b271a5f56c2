package tencentcloudmonitorexporter

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeMonitor is a PutMonitorData server on 127.0.0.1. It checks requests
// the way Tencent's API documents them (TC3-HMAC-SHA256 recomputed here from
// the documented algorithm, not with the SDK's signer; the body schema; the
// limits) and records what it stored, keyed by instance+metric+timestamp.
type fakeMonitor struct {
	t      testing.TB
	addr   string
	region string
	keys   map[string]string // SecretId -> SecretKey

	mu        sync.Mutex
	srv       *http.Server
	requests  int                                  // HTTP requests seen
	stored    map[pointKey]uint64                  // accepted points
	counts    map[pointKey]int                     // times each point was accepted
	failNext  []failure                            // injected answers, consumed in order
	always    *failure                             // injected answer for every request
	checkAge  bool                                 // enforce AnnounceTimestamp within 300 s
	rateLimit int                                  // > 0: answer RequestLimitExceeded above this many requests/s
	recent    []time.Time                          // request times, for rateLimit
	bodies    int                                  // accepted requests
	lastErr   string                               // last rejection, for test failure messages
	decide    func(request, accepted int) *failure // optional injected answer per request
}

type pointKey struct {
	instance, metric string
	ts               uint64
}

type failure struct {
	status int    // HTTP status; 0 means 200 with an API error
	code   string // API error code
}

func newFakeMonitor(t testing.TB, secretID, secretKey string) *fakeMonitor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeMonitor{
		t: t, addr: ln.Addr().String(), region: "ap-guangzhou",
		keys:   map[string]string{secretID: secretKey},
		stored: map[pointKey]uint64{}, counts: map[pointKey]int{},
		checkAge: true,
	}
	f.serve(ln)
	t.Cleanup(f.down)
	return f
}

func (f *fakeMonitor) endpoint() string { return "http://" + f.addr }

func (f *fakeMonitor) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(f.handle), ReadHeaderTimeout: 5 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down stops listening and drops all connections (downtime).
func (f *fakeMonitor) down() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same address.
func (f *fakeMonitor) up() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(f.t, err)
	f.serve(ln)
}

func (f *fakeMonitor) inject(fs ...failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = append(f.failNext, fs...)
}

// accepted is the number of accepted requests.
func (f *fakeMonitor) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies
}

// waitAccepted waits until n requests were accepted.
func (f *fakeMonitor) waitAccepted(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return f.accepted() >= n }, timeout, 10*time.Millisecond,
		"waiting for %d accepted requests", n)
}

func (f *fakeMonitor) snapshot() (requests, accepted int, stored map[pointKey]uint64, counts map[pointKey]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	stored = make(map[pointKey]uint64, len(f.stored))
	counts = make(map[pointKey]int, len(f.counts))
	for k, v := range f.stored {
		stored[k] = v
	}
	for k, v := range f.counts {
		counts[k] = v
	}
	return f.requests, f.bodies, stored, counts
}

func writeAPIError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"Response": map[string]any{
		"Error":     map[string]string{"Code": code, "Message": msg},
		"RequestId": "req-" + code,
	}})
}

var authRe = regexp.MustCompile(`^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})$`)

func hmac256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// verifySignature recomputes TC3-HMAC-SHA256 as documented at
// https://www.tencentcloud.com/document/api/248/34812 (signature v3).
func (f *fakeMonitor) verifySignature(r *http.Request, body []byte) (code, msg string) {
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "AuthFailure.InvalidAuthorization", "Authorization header malformed"
	}
	secretID, date, service, signedHeaders, sig := m[1], m[2], m[3], m[4], m[5]
	key, ok := f.keys[secretID]
	if !ok {
		return "AuthFailure.SecretIdNotFound", "SecretId not found"
	}
	if service != "monitor" || signedHeaders != "content-type;host" {
		return "AuthFailure.InvalidAuthorization", "credential scope or signed headers"
	}
	tsStr := r.Header.Get("X-TC-Timestamp")
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return "AuthFailure.InvalidAuthorization", "X-TC-Timestamp"
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "AuthFailure.SignatureExpire", "signature expired"
	}
	if time.Unix(ts, 0).UTC().Format("2006-01-02") != date {
		return "AuthFailure.InvalidAuthorization", "credential date"
	}
	canonicalHeaders := "content-type:" + strings.ToLower(r.Header.Get("Content-Type")) + "\nhost:" + strings.ToLower(r.Host) + "\n"
	canonicalRequest := strings.Join([]string{r.Method, "/", r.URL.RawQuery, canonicalHeaders, signedHeaders, sha256Hex(body)}, "\n")
	credentialScope := date + "/" + service + "/tc3_request"
	stringToSign := "TC3-HMAC-SHA256\n" + tsStr + "\n" + credentialScope + "\n" + sha256Hex([]byte(canonicalRequest))
	secretDate := hmac256([]byte("TC3"+key), date)
	secretService := hmac256(secretDate, service)
	secretSigning := hmac256(secretService, "tc3_request")
	want := hex.EncodeToString(hmac256(secretSigning, stringToSign))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct."
	}
	return "", ""
}

type putMonitorData struct {
	Metrics []struct {
		MetricName *string          `json:"MetricName"`
		Value      *json.RawMessage `json:"Value"`
	} `json:"Metrics"`
	AnnounceIp        *string `json:"AnnounceIp"`
	AnnounceTimestamp *uint64 `json:"AnnounceTimestamp"`
	AnnounceInstance  *string `json:"AnnounceInstance"`
}

var valueRe = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

func (f *fakeMonitor) reject(w http.ResponseWriter, code, msg string) {
	f.mu.Lock()
	f.lastErr = code + ": " + msg
	f.mu.Unlock()
	writeAPIError(w, code, msg)
}

func (f *fakeMonitor) handle(w http.ResponseWriter, r *http.Request) {
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	f.mu.Lock()
	f.requests++
	var inj *failure
	if len(f.failNext) > 0 {
		inj = &f.failNext[0]
		f.failNext = f.failNext[1:]
	} else if f.always != nil {
		inj = f.always
	}
	throttled := false
	if f.rateLimit > 0 {
		now := time.Now()
		keep := f.recent[:0]
		for _, t := range f.recent {
			if now.Sub(t) < time.Second {
				keep = append(keep, t)
			}
		}
		f.recent = append(keep, now)
		throttled = len(f.recent) > f.rateLimit
	}
	if inj == nil && f.decide != nil {
		inj = f.decide(f.requests, f.bodies)
	}
	f.mu.Unlock()
	if inj != nil {
		if inj.status != 0 {
			http.Error(w, "injected", inj.status)
			return
		}
		writeAPIError(w, inj.code, "injected "+inj.code)
		return
	}
	if throttled {
		f.reject(w, "RequestLimitExceeded", "requests per second over the limit")
		return
	}
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		f.reject(w, "InvalidAction", r.Method+" "+r.URL.Path)
		return
	case r.Header.Get("Content-Type") != "application/json":
		f.reject(w, "InvalidParameter", "content type "+r.Header.Get("Content-Type"))
		return
	case r.Header.Get("X-TC-Action") != "PutMonitorData" || r.Header.Get("X-TC-Version") != "2018-07-24":
		f.reject(w, "InvalidAction", r.Header.Get("X-TC-Action")+" "+r.Header.Get("X-TC-Version"))
		return
	case r.Header.Get("X-TC-Region") != f.region:
		f.reject(w, "InvalidParameterValue", "region "+r.Header.Get("X-TC-Region"))
		return
	}
	if code, msg := f.verifySignature(r, body.Bytes()); code != "" {
		f.reject(w, code, msg)
		return
	}
	var req putMonitorData
	dec := json.NewDecoder(bytes.NewReader(body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.reject(w, "UnknownParameter", err.Error())
		return
	}
	if err := f.checkBody(&req); err != nil {
		f.reject(w, "InvalidParameter", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies++
	inst := ""
	if req.AnnounceInstance != nil {
		inst = *req.AnnounceInstance
	}
	for _, m := range req.Metrics {
		v, _ := strconv.ParseUint(string(*m.Value), 10, 64)
		k := pointKey{instance: inst, metric: *m.MetricName, ts: *req.AnnounceTimestamp}
		f.stored[k] = v
		f.counts[k]++
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"Response":{"RequestId":"req-%d"}}`, f.bodies)
}

var metricNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func (f *fakeMonitor) checkBody(req *putMonitorData) error {
	if len(req.Metrics) == 0 || len(req.Metrics) > 30 {
		return fmt.Errorf("Metrics: %d pairs, want 1..30", len(req.Metrics))
	}
	if req.AnnounceTimestamp == nil {
		return errors.New("AnnounceTimestamp missing")
	}
	if f.checkAge {
		if age := time.Since(time.Unix(int64(*req.AnnounceTimestamp), 0)); age > 300*time.Second || age < -time.Minute {
			return fmt.Errorf("AnnounceTimestamp %d not within the last 300 s", *req.AnnounceTimestamp)
		}
	}
	if req.AnnounceInstance == nil || *req.AnnounceInstance == "" {
		return errors.New("AnnounceInstance missing")
	}
	if req.AnnounceIp != nil && net.ParseIP(*req.AnnounceIp) == nil {
		return fmt.Errorf("AnnounceIp %q", *req.AnnounceIp)
	}
	seen := map[string]bool{}
	for i, m := range req.Metrics {
		if m.MetricName == nil || !metricNameRe.MatchString(*m.MetricName) {
			return fmt.Errorf("Metrics.%d.MetricName invalid", i)
		}
		if seen[*m.MetricName] {
			return fmt.Errorf("Metrics.%d.MetricName %s repeated", i, *m.MetricName)
		}
		seen[*m.MetricName] = true
		if m.Value == nil || !valueRe.Match(*m.Value) {
			return fmt.Errorf("Metrics.%d.Value must be an unsigned integer", i)
		}
		if _, err := strconv.ParseUint(string(*m.Value), 10, 64); err != nil {
			return fmt.Errorf("Metrics.%d.Value: %w", i, err)
		}
	}
	return nil
}
