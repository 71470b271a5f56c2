package tencentcloudmonitorexporter // import "github.com/netstack-otel/netstack/exporter/tencentcloudmonitorexporter"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/netstack-otel/netstack/internal/metricwalk"
)

// throttleDelay is the least wait after RequestLimitExceeded.
const throttleDelay = time.Second

// metricDatum is the API's MetricDatum.
type metricDatum struct {
	MetricName string `json:"MetricName"`
	Value      uint64 `json:"Value"`
}

// sender calls PutMonitorData.
type sender struct {
	client    *common.Client
	transport *http.Transport
	instance  string
	ip        string
	pace      *pacer
	now       func() time.Time
}

// newClient builds the SDK client for cfg with the given credential.
func newClient(cfg *Config, cred common.CredentialIface, tr *http.Transport) (*common.Client, error) {
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	// NewClientProfile, never a zero-value profile: that enables the region
	// breaker, which reroutes failing calls to Tencent's public hosts.
	prof := profile.NewClientProfile()
	prof.DisableRegionBreaker = true
	prof.HttpProfile.Endpoint = u.Host + strings.TrimSuffix(u.Path, "/")
	prof.HttpProfile.Scheme = strings.ToUpper(u.Scheme)
	prof.HttpProfile.ReqMethod = http.MethodPost
	// Retries are exporterhelper's (retry_on_failure), which also covers
	// network errors; the SDK's own retries stay off.
	prof.NetworkFailureMaxRetries = 0
	prof.RateLimitExceededMaxRetries = 0
	c := common.NewCommonClient(cred, cfg.Region, prof)
	c.WithHttpTransport(statusTransport{tr})
	return c, nil
}

// resolveCredential returns the credential selected by cfg.Credentials.
func resolveCredential(cfg *Config) (common.CredentialIface, error) {
	fromConfig := func() common.CredentialIface {
		return common.NewTokenCredential(string(cfg.SecretID), string(cfg.SecretKey), string(cfg.Token))
	}
	var p common.Provider
	switch cfg.Credentials {
	case CredentialsConfig:
		return fromConfig(), nil
	case CredentialsAuto:
		if cfg.SecretID != "" {
			return fromConfig(), nil
		}
		p = common.NewProviderChain([]common.Provider{common.DefaultEnvProvider(), common.DefaultProfileProvider()})
	case CredentialsEnv:
		p = common.DefaultEnvProvider()
	case CredentialsProfile:
		p = common.DefaultProfileProvider()
	case CredentialsCVMRole:
		if cfg.CVMRole != "" {
			p = common.NewCvmRoleProvider(cfg.CVMRole)
		} else {
			p = common.DefaultCvmRoleProvider()
		}
	default:
		return nil, fmt.Errorf("credentials: unknown source %q", cfg.Credentials)
	}
	cred, err := p.GetCredential()
	if err != nil {
		return nil, fmt.Errorf("credentials %q: %w", cfg.Credentials, err)
	}
	return cred, nil
}

// request is one PutMonitorData call.
type request struct {
	ts      int64
	metrics []metricDatum
}

// push sends md, which flush built as one request per pmetric.Metrics (data
// restored from an older queue may hold more; it is split at 30 pairs).
// Requests are sent in order; on a retryable failure the unsent rest is
// returned for exporterhelper to retry, permanent failures are collected.
func (s *sender) push(ctx context.Context, md pmetric.Metrics) error {
	reqs, err := requestsOf(md)
	var permanent []error
	if err != nil {
		permanent = append(permanent, err)
	}
	for i, r := range reqs {
		if age := s.now().Sub(time.Unix(r.ts, 0)); age > maxAnnounceAge {
			permanent = append(permanent, fmt.Errorf("dropping %d points of %s: %s old, PutMonitorData accepts AnnounceTimestamp within the last %s",
				len(r.metrics), time.Unix(r.ts, 0).UTC().Format(time.RFC3339), age.Truncate(time.Second), maxAnnounceAge))
			continue
		}
		err := s.send(ctx, r)
		if err == nil {
			continue
		}
		if consumererror.IsPermanent(err) {
			permanent = append(permanent, err)
			continue
		}
		if i == 0 && len(permanent) == 0 {
			return err // md as it is is the rest
		}
		return consumererror.NewMetrics(err, metricsOf(reqs[i:]))
	}
	if len(permanent) > 0 {
		return consumererror.NewPermanent(errors.Join(permanent...))
	}
	return nil
}

// requestsOf reads the requests back from queued metrics.
func requestsOf(md pmetric.Metrics) ([]request, error) {
	var reqs []request
	index := map[int64]int{}
	var bad int
	metricwalk.Metrics(md, func(m pmetric.Metric) {
		if m.Type() != pmetric.MetricTypeGauge {
			bad++
			return
		}
		dps := m.Gauge().DataPoints()
		for l := 0; l < dps.Len(); l++ {
			dp := dps.At(l)
			if dp.ValueType() != pmetric.NumberDataPointValueTypeInt || dp.IntValue() < 0 {
				bad++
				continue
			}
			ts := int64(dp.Timestamp()) / int64(time.Second)
			idx, ok := index[ts]
			if !ok || len(reqs[idx].metrics) == maxPairsPerRequest {
				idx = len(reqs)
				index[ts] = idx
				reqs = append(reqs, request{ts: ts})
			}
			reqs[idx].metrics = append(reqs[idx].metrics, metricDatum{MetricName: m.Name(), Value: uint64(dp.IntValue())})
		}
	})
	var err error
	if bad > 0 {
		err = fmt.Errorf("dropping %d queued points that are not non-negative integer gauges", bad)
	}
	return reqs, err
}

func metricsOf(reqs []request) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for _, r := range reqs {
		for _, d := range r.metrics {
			m := ms.AppendEmpty()
			m.SetName(d.MetricName)
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(r.ts * int64(time.Second)))
			dp.SetIntValue(int64(d.Value))
		}
	}
	return md
}

func (s *sender) send(ctx context.Context, r request) error {
	if err := s.pace.wait(ctx); err != nil {
		return err
	}
	req := tchttp.NewCommonRequest("monitor", "2018-07-24", "PutMonitorData")
	req.SetContext(ctx)
	params := map[string]any{
		"Metrics":           r.metrics,
		"AnnounceTimestamp": r.ts,
	}
	if s.instance != "" {
		params["AnnounceInstance"] = s.instance
	}
	if s.ip != "" {
		params["AnnounceIp"] = s.ip
	}
	if err := req.SetActionParameters(params); err != nil {
		return consumererror.NewPermanent(err)
	}
	resp := tchttp.NewCommonResponse()
	return classify(s.client.Send(req, resp))
}

// Error codes PutMonitorData answers for accounts whose custom monitoring
// was deactivated.
var offlineCodes = map[string]bool{
	"ActionOffline":                     true,
	"FailedOperation.ServiceNotEnabled": true,
}

// classify maps an SDK error to a permanent or retryable error.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("PutMonitorData: %w", err)
	}
	var se *statusError
	if errors.As(err, &se) {
		return statusErr(se.code, fmt.Sprintf("PutMonitorData: HTTP %d %s: %.200s", se.code, http.StatusText(se.code), se.body))
	}
	var e *tcerr.TencentCloudSDKError
	if !errors.As(err, &e) {
		return fmt.Errorf("PutMonitorData: %w", err)
	}
	code := e.GetCode()
	desc := fmt.Sprintf("PutMonitorData %s (RequestId %q): %s", code, e.GetRequestId(), e.GetMessage())
	if e.Unwrap() != nil {
		desc += ": " + e.Unwrap().Error()
	}
	switch {
	case code == "RequestLimitExceeded" || strings.HasPrefix(code, "RequestLimitExceeded."):
		return exporterhelper.NewThrottleRetry(errors.New(desc), throttleDelay)
	case code == "ClientError.NetworkError" || code == "ClientError.IOError":
		return errors.New(desc)
	case code == "ClientError.HttpStatusCodeError":
		// The SDK only reports this for JSON bodies; statusTransport
		// catches the rest.
		return statusErr(httpStatus(e.GetMessage()), desc)
	case offlineCodes[code]:
		return consumererror.NewPermanent(fmt.Errorf("%s; Tencent Cloud deactivated PutMonitorData custom monitoring for this account: "+
			"send metrics to Managed Service for Prometheus or a CLS metric topic with the prometheusremotewrite exporter "+
			"(see the exporter README, \"Tencent Cloud\")", desc))
	case code == "LimitExceeded.MetricQuotaExceeded":
		return consumererror.NewPermanent(fmt.Errorf("%s; the account's custom metric name quota (100 by default) is used up: "+
			"map fewer names in `metrics`, turn off send_unmapped, or ask Tencent to raise the quota", desc))
	case strings.HasPrefix(code, "InternalError"), code == "ServiceUnavailable", strings.HasPrefix(code, "ResourceUnavailable"):
		return errors.New(desc)
	default: // AuthFailure.*, InvalidParameter*, UnknownParameter, MissingParameter, ...
		return consumererror.NewPermanent(errors.New(desc))
	}
}

// statusErr classifies an HTTP status: 5xx, 408 and 429 are retried.
func statusErr(code int, desc string) error {
	if code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout {
		return errors.New(desc)
	}
	return consumererror.NewPermanent(errors.New(desc))
}

// statusError is a non-200 HTTP answer. The API answers every result,
// errors included, with 200 and a JSON body; anything else comes from a
// gateway or proxy, and the SDK would report it as unparsable JSON.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

// statusTransport turns non-200 answers into *statusError.
type statusTransport struct{ *http.Transport }

func (t statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.Transport.RoundTrip(r)
	if err != nil || resp.StatusCode == http.StatusOK {
		return resp, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	return nil, &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
}

// httpStatus reads the status from the SDK's "Request fail with http status
// code: 503 Service Unavailable, with body: ..." message.
func httpStatus(msg string) int {
	const marker = "status code: "
	i := strings.Index(msg, marker)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(marker):]
	if len(rest) < 3 {
		return 0
	}
	n, err := strconv.Atoi(rest[:3])
	if err != nil {
		return 0
	}
	return n
}

// pacer spaces requests at least interval apart across all queue consumers.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newPacer(perSecond float64) *pacer {
	if perSecond <= 0 {
		return nil
	}
	return &pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
