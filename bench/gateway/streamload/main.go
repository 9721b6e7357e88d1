// streamload: the two instruments of bench/gateway's streams figure, in Go so
// that they take as little as possible of the two cores they share with the
// proxy they measure.
//
//	streamload upstream -port 7201 -latency-ms 50 -token-delay-ms 50
//	    An OpenAI-style streaming chat completions server with the timing and
//	    events of examples/model-server: after latency-ms the role chunk, then
//	    one chunk per token (max_tokens of them), the finish chunk, the usage
//	    chunk when stream_options.include_usage is asked for (with
//	    "usage":null in every other chunk, as OpenAI sends them) and [DONE],
//	    each token-delay-ms after the one before and each one HTTP chunk in
//	    one socket write. The first event also carries "streamload_us": when
//	    the request came and when the event left (Unix µs).
//
//	streamload client '{"url":…,"headers":{…},"body":{…},"concurrency":1000,"rampMs":1000,"warmupMs":4000,"durationMs":20000}'
//	    N workers, each starting its next stream when the last one ends (a
//	    closed loop); with "arrivalsPerSecond" instead, streams started on a
//	    fixed schedule whatever the answers do (an open loop, scheduled as
//	    k6's constant-arrival-rate: a stall then delays the streams it meets
//	    but does not gather the next starts into a wave), each timed from its
//	    scheduled start so that a late client counts against the figure. A
//	    stream counts only when whole: status 200 and data: [DONE] at its end.
//	    For every stream the time from sending the request to the first byte
//	    of the body, and to its end, and the first byte's two legs (to the
//	    upstream's "received", from its "sent"); the streams in flight. Prints
//	    one JSON line, the same shape as bench/gateway/streams.js.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: streamload upstream|client …")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "upstream":
		upstream(os.Args[2:])
	case "client":
		client(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

// ------------------------------------------------------------------ upstream

// legsKey names the first event's field with the upstream's times of a stream.
const legsKey = "streamload_us"

var words = []string{"harbor", "status", "vessel", "berth", "tide", "crane", "cargo", "pilot", "quay", "anchor"}

type chatRequest struct {
	Model         string `json:"model"`
	MaxTokens     int    `json:"max_tokens"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func upstream(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	port := fs.Int("port", 7201, "port on 127.0.0.1")
	latency := fs.Int("latency-ms", 50, "time before the first event")
	tokenDelay := fs.Int("token-delay-ms", 50, "time between token events")
	fs.Parse(args)

	var counter uint64
	var mu sync.Mutex
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		received := time.Now()
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !req.Stream {
			http.Error(w, `{"error":{"message":"streamload serves stream: true chat completions only"}}`, http.StatusBadRequest)
			return
		}
		tokens := req.MaxTokens
		if tokens <= 0 {
			tokens = 16
		}
		includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		mu.Lock()
		counter++
		id := counter
		mu.Unlock()
		tail := "]}"
		if includeUsage {
			tail = `],"usage":null}`
		}
		created := time.Now().Unix()
		head := fmt.Sprintf(`data: {"id":"chatcmpl-sl%d","object":"chat.completion.chunk","created":%d,"model":%q,"system_fingerprint":"fp_streamload","choices":[`, id, created, req.Model)
		flusher := w.(http.Flusher)
		time.Sleep(time.Duration(*latency) * time.Millisecond)
		h := w.Header()
		h.Set("content-type", "text/event-stream; charset=utf-8")
		h.Set("cache-control", "no-cache")
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, 0, 512)
		send := func(body string) bool {
			buf = append(buf[:0], head...)
			buf = append(buf, body...)
			buf = append(buf, tail...)
			buf = append(buf, "\n\n"...)
			if _, err := w.Write(buf); err != nil {
				return false
			}
			flusher.Flush()
			return true
		}
		// As examples/model-server sends them: the role chunk at once, then
		// every further event one token delay after the one before.
		events := []string{`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`}
		for i := 0; i < tokens; i++ {
			events = append(events, `{"index":0,"delta":{"content":" `+words[i%len(words)]+`"},"logprobs":null,"finish_reason":null}`)
		}
		events = append(events, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}`)
		for i, event := range events {
			if i > 0 {
				time.Sleep(time.Duration(*tokenDelay) * time.Millisecond)
			}
			if i == 0 {
				// The first event also says when the request came and when the event
				// left (Unix µs), so that the client can split a proxy's added first
				// byte into the request's way here and the event's way back.
				buf = append(buf[:0], "data: {"...)
				buf = strconv.AppendQuote(buf, legsKey)
				buf = fmt.Appendf(buf, ":[%d,%d],", received.UnixMicro(), time.Now().UnixMicro())
				buf = append(buf, head[len("data: {"):]...)
				buf = append(buf, event...)
				buf = append(buf, tail...)
				buf = append(buf, "\n\n"...)
				if _, err := w.Write(buf); err != nil {
					return
				}
				flusher.Flush()
				continue
			}
			if !send(event) {
				return
			}
		}
		if includeUsage {
			// Counts of the bench's fixed prompt and max_tokens, not a tokenizer's: the
			// gateway under test only reads that the upstream reported usage. Right
			// after the last event, as OpenAI and examples/model-server send it: a
			// gateway that asks for usage gets streams as long as a client that doesn't.
			fmt.Fprintf(w, `data: {"id":"chatcmpl-sl%d","object":"chat.completion.chunk","created":%d,"model":%q,"system_fingerprint":"fp_streamload","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n", id, created, req.Model, tokens, 12+tokens)
			flusher.Flush()
		}
		// [DONE] right after the last event, as res.end sends it there.
		w.Write([]byte("data: [DONE]\n\n"))
	})
	server := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", *port), IdleTimeout: 120 * time.Second}
	fmt.Printf("streamload upstream listening on %d\n", *port)
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// -------------------------------------------------------------------- client

type clientOptions struct {
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers"`
	Body        json.RawMessage   `json:"body"`
	Concurrency int               `json:"concurrency"`
	RampMs      int               `json:"rampMs"`
	WarmupMs    int               `json:"warmupMs"`
	DurationMs  int               `json:"durationMs"`
	// ArrivalsPerSecond > 0: an open loop at this rate; Concurrency and RampMs are then unused.
	ArrivalsPerSecond float64 `json:"arrivalsPerSecond"`
}

type summary struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count int     `json:"count"`
}

func percentiles(xs []float64) summary {
	sort.Float64s(xs)
	at := func(p float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		i := int(math.Floor(p / 100 * float64(len(xs))))
		if i > len(xs)-1 {
			i = len(xs) - 1
		}
		return xs[i]
	}
	s := summary{P50: at(50), P90: at(90), P99: at(99), Count: len(xs)}
	if len(xs) > 0 {
		s.Max = xs[len(xs)-1]
	}
	return s
}

func client(args []string) {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: streamload client '<json options>'")
		os.Exit(2)
	}
	opts := clientOptions{Concurrency: 1000, RampMs: 1000, WarmupMs: 4000, DurationMs: 20000}
	if err := json.Unmarshal([]byte(args[0]), &opts); err != nil {
		fmt.Fprintln(os.Stderr, "options:", err)
		os.Exit(2)
	}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 60 * time.Second}).DialContext,
		MaxIdleConns:          opts.Concurrency * 2,
		MaxIdleConnsPerHost:   opts.Concurrency * 2,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	httpClient := &http.Client{Transport: transport, Timeout: 60 * time.Second}

	var (
		mu          sync.Mutex
		ttfb, total = []float64{}, []float64{}
		// The first byte's two legs: request sent to upstream received, event sent to first byte.
		toUpstream, fromUpstream = []float64{}, []float64{}
		measured                 int
		errorsCount              int
		events                   int
		started                  int
		errorSamples             = []string{}
		samples                  = [][2]float64{}
	)
	t0 := time.Now()
	measureFrom := t0.Add(time.Duration(opts.WarmupMs) * time.Millisecond)
	stopAt := measureFrom.Add(time.Duration(opts.DurationMs) * time.Millisecond)
	dataPrefix := []byte("data: ")
	legsField := []byte(strconv.Quote(legsKey) + ":[")
	// A stream counts only when whole: its last event, [DONE], came (a 200 cut short, or a 200 carrying an error, is a failure).
	doneMarker := []byte("data: [DONE]")

	var inFlight atomic.Int64
	one := func(buf []byte, begin time.Time) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		counts := !begin.Before(measureFrom)
		req, _ := http.NewRequest(http.MethodPost, opts.URL, bytes.NewReader(opts.Body))
		req.Header.Set("content-type", "application/json")
		for k, v := range opts.Headers {
			req.Header.Set(k, v)
		}
		var first time.Time
		var received, sent int64
		n := 0
		sawDone := false
		// The end of the last read, so a marker split between two reads is found.
		tail := make([]byte, 0, len(doneMarker))
		status := 0
		var failure string
		resp, err := httpClient.Do(req)
		if err != nil {
			failure = err.Error()
		} else {
			status = resp.StatusCode
			for {
				k, readErr := resp.Body.Read(buf)
				if k > 0 {
					if first.IsZero() {
						first = time.Now()
						if at := bytes.Index(buf[:k], legsField); at >= 0 {
							rest := buf[at+len(legsField) : k]
							if comma := bytes.IndexByte(rest, ','); comma > 0 {
								received, _ = strconv.ParseInt(string(rest[:comma]), 10, 64)
								if end := bytes.IndexByte(rest[comma+1:], ']'); end > 0 {
									sent, _ = strconv.ParseInt(string(rest[comma+1:comma+1+end]), 10, 64)
								}
							}
						}
					}
					n += bytes.Count(buf[:k], dataPrefix)
					if !sawDone {
						head := buf[:min(k, len(doneMarker)-1)]
						sawDone = bytes.Contains(buf[:k], doneMarker) || bytes.Contains(append(append(make([]byte, 0, 2*len(doneMarker)), tail...), head...), doneMarker)
						tail = append(tail, buf[:k]...)
						if len(tail) > len(doneMarker)-1 {
							tail = append(tail[:0], tail[len(tail)-(len(doneMarker)-1):]...)
						}
					}
				}
				if readErr == io.EOF {
					break
				}
				if readErr != nil {
					failure = readErr.Error()
					break
				}
			}
			resp.Body.Close()
			if status != http.StatusOK && failure == "" {
				failure = "status " + strconv.Itoa(status)
			}
			if failure == "" && !sawDone {
				failure = "the stream ended without data: [DONE]"
			}
		}
		end := time.Now()
		mu.Lock()
		defer mu.Unlock()
		started++
		if failure != "" && len(errorSamples) < 3 {
			errorSamples = append(errorSamples, failure)
		}
		if !counts {
			return
		}
		measured++
		events += n
		if failure != "" || first.IsZero() {
			errorsCount++
			return
		}
		ttfb = append(ttfb, float64(first.Sub(begin).Nanoseconds())/1e6)
		samples = append(samples, [2]float64{float64(begin.UnixNano()) / 1e6, float64(first.Sub(begin).Nanoseconds()) / 1e6})
		total = append(total, float64(end.Sub(begin).Nanoseconds())/1e6)
		if received > 0 && sent > 0 {
			toUpstream = append(toUpstream, float64(received-begin.UnixMicro())/1e3)
			fromUpstream = append(fromUpstream, float64(first.UnixMicro()-sent)/1e3)
		}
	}

	// The streams in flight every 10 ms of the measured window.
	var flightSum, flightSamples, flightMax int64
	go func() {
		for now := range time.Tick(10 * time.Millisecond) {
			if now.Before(measureFrom) {
				continue
			}
			if !now.Before(stopAt) {
				return
			}
			n := inFlight.Load()
			atomic.AddInt64(&flightSum, n)
			atomic.AddInt64(&flightSamples, 1)
			if n > atomic.LoadInt64(&flightMax) {
				atomic.StoreInt64(&flightMax, n)
			}
		}
	}()

	var wg sync.WaitGroup
	if opts.ArrivalsPerSecond > 0 {
		bufs := sync.Pool{New: func() any { b := make([]byte, 16*1024); return &b }}
		interval := float64(time.Second) / opts.ArrivalsPerSecond
		for i := 0; ; i++ {
			at := t0.Add(time.Duration(float64(i) * interval))
			if !at.Before(stopAt) {
				break
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func(at time.Time) {
				defer wg.Done()
				b := bufs.Get().(*[]byte)
				one(*b, at)
				bufs.Put(b)
			}(at)
		}
	} else {
		for i := 0; i < opts.Concurrency; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				time.Sleep(time.Duration(float64(i) * float64(opts.RampMs) / float64(opts.Concurrency) * float64(time.Millisecond)))
				buf := make([]byte, 16*1024)
				for time.Now().Before(stopAt) {
					one(buf, time.Now())
				}
			}(i)
		}
	}
	wg.Wait()
	// Each measured stream's start (Unix ms) and first byte, for bench/gateway/waves.js.
	if p := os.Getenv("BENCH_GATEWAY_STREAM_SAMPLES"); p != "" {
		var b bytes.Buffer
		for _, x := range samples {
			fmt.Fprintf(&b, "%.1f %.2f\n", x[0], x[1])
		}
		os.WriteFile(p+"."+strconv.Itoa(os.Getpid()), b.Bytes(), 0o644)
	}
	out, _ := json.Marshal(map[string]any{
		"ttfb":             percentiles(ttfb),
		"total":            percentiles(total),
		"toUpstream":       percentiles(toUpstream),
		"fromUpstream":     percentiles(fromUpstream),
		"measured":         measured,
		"errors":           errorsCount,
		"events":           events,
		"started":          started,
		"streamsPerSecond": float64(measured) / (float64(opts.DurationMs) / 1000),
		"errorSamples":     errorSamples,
		"inFlight": map[string]any{
			"mean": float64(atomic.LoadInt64(&flightSum)) / math.Max(1, float64(atomic.LoadInt64(&flightSamples))),
			"max":  atomic.LoadInt64(&flightMax),
		},
	})
	fmt.Println(string(out))
}
