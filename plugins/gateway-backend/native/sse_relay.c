/*
 * sse_relay.c: the steady part of a streamed call's event path, in C
 * (docs/gateway.md, Decisions: "Streamed events are relayed natively").
 *
 * The data plane admits a streamed call and writes its request upstream
 * (dataplane/streamClient.ts), then hands this relay the two sockets: the
 * upstream's, which it stops reading, and the client's. When it also gives
 * the client's response head, the relay waits for the upstream's head: a
 * plain `200` with chunked framing and a content type has the client's head
 * written at once (the upstream's content type in it) together with the
 * events that came along, and the upstream's head goes to JavaScript as a
 * notice while the relay carries on; any other head goes back whole, unread
 * by the client, for the JavaScript path (fallbacks, errors). So a stream's
 * first event never waits for the JavaScript thread. From then on one
 * thread reads the upstream with epoll and writes each chunk the JavaScript
 * path would forward untouched (a whole HTTP/1.1 chunk of whole server-sent
 * events with no usage object: nearly every one) to the client as the
 * upstream framed it.
 * Given a usage mode (start's `usageMode`), it also reads the chunk that carries
 * the usage event as SseUsageFilter (dataplane/sse.ts) does: the usage-only
 * event is dropped when the client did not ask for usage, the usage event's
 * data goes to JavaScript to be parsed there, and the body's last chunk is
 * written to the client and the stream handed back as ended, so the end of
 * a stream costs the JavaScript thread one notice rather than a read, a
 * parse and two writes. Where this reading cannot be sure of what
 * JSON.parse would see (bytes outside ASCII, an escaped member name,
 * anything malformed), the chunk goes back to JavaScript unread.
 * Anything else (an event split across chunks, a chunk extension, trailers,
 * a client socket that is full or failed, a timeout, the end of the
 * connection) goes back to JavaScript with the bytes not forwarded, and the
 * call carries on there. So this file decides only "forward as is, drop the
 * usage-only event, or hand back".
 *
 * Why: at 1,000 concurrent streams (20,000 events a second) the JavaScript
 * read callback, parsing and socket write around each event were most of
 * the data plane's user time, and that time put a 2-core machine past its
 * knee (docs/gateway.md, Numbers).
 *
 * The relay works on its own duplicates of the descriptors, so a socket that
 * Node closes meanwhile cannot have its number reused under the relay; a
 * lock guards only a slot's state, never a read or a write, so the
 * JavaScript thread never waits behind a system call: a stream cancelled
 * while its read or write is under way is released right after it, and
 * what the relay held for it (the events kept, the usage read) goes back to
 * JavaScript either way, for the call's count.
 * Starting a stream takes no lock at all: a free slot is filled by the
 * JavaScript thread and published by its id, so a new stream never waits
 * for the relay thread, which on a machine short of cores may have been
 * descheduled while holding the lock (measured: waits of 10-14 ms).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RELAYS 65536        /* slots; an id is slot | generation << 16 */
#define READ_BUF (64 * 1024)
#define MAX_PARTIAL (16 * 1024) /* the most of an incomplete chunk, or of an upstream head, waited for here */
#define MAX_KEPT (1 << 20)      /* as MAX_KEPT in dataplane/sse.ts */
#define SCAN_MS 250             /* how often deadlines are checked */

/*
 * Why a stream comes back (the JavaScript side has the same numbers: nativeRelay.ts).
 * BACK_HEAD is a notice, not a hand-back: the client has its head, the relay goes on.
 * BACK_CANCELLED answers a cancel that came while a read or write was under way:
 * what the relay held (kept, usage), given back once that read or write is done.
 */
enum { BACK_DATA = 0, BACK_TIMEOUT = 1, BACK_CLIENT_FAILED = 2, BACK_CLIENT_FULL = 3, BACK_HEAD = 4, BACK_END = 5, BACK_CANCELLED = 6 };

/* What cancel returns (a bit set): it had the stream; the client has (or is being sent) the relay's head; its message comes later. */
enum { CANCEL_HAD = 1, CANCEL_HEAD_SENT = 2, CANCEL_LATER = 4 };

/* What the relay does with the usage event and the body's end (nativeRelay.ts, RelayUsage). */
enum { USAGE_HAND_BACK = 0, USAGE_FORWARD = 1, USAGE_DROP = 2 };

typedef struct {
  /* 0 when the slot is free. Set last by start (a release store) and cleared last by release: a slot whose id reads 0 is whole and free. */
  uint32_t id;
  /* The relay thread is reading or writing for it (without the lock); a cancel then only marks it. */
  int busy, cancelled;
  int up, down;
  int timeout_ms;
  int64_t deadline;
  uint8_t *partial;
  size_t partial_len;
  /* The client's head, split where the upstream's content type goes; set while the upstream's head is awaited. */
  uint8_t *head_before, *head_after;
  size_t head_before_len, head_after_len;
  /*
   * The client has been sent its head by the relay, or a write of it is under
   * way (cancel says so: JavaScript must not answer again). writing_head is
   * set under the lock, and only when no cancel came first (pump).
   */
  int head_sent, writing_head;
  /* The events forwarded, for an estimate of tokens when the upstream reports no usage. */
  uint8_t *kept;
  size_t kept_len, kept_cap;
  int usage_mode;
  /* The data of the last event whose usage JSON.parse would find truthy, for JavaScript to parse; usage_counted: both its counts are ones reportedUsage keeps (no estimate needed). */
  uint8_t *usage;
  size_t usage_len;
  int usage_counted;
} relay_t;

typedef struct {
  uint32_t id;
  int reason, err;
  uint8_t *out, *rest, *kept, *usage;
  size_t out_len, rest_len, kept_len, usage_len;
} back_t;

static relay_t slots[MAX_RELAYS];
static uint16_t generations[MAX_RELAYS];
static int high_water; /* slots below it may be in use; written by start, read by the relay thread (atomically) */
static int next_slot;   /* the JavaScript thread's alone */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int epfd = -1;
static napi_threadsafe_function tsfn;

#ifdef SSE_RELAY_TEST_HOOKS
/* Tests only (nativeRelay.test.ts builds with it): each pump sleeps this long after its read, so a cancel can come while it is under way. */
static int test_pump_delay_ms;
#endif

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint8_t *copy_of(const uint8_t *p, size_t n) {
  if (n == 0) return NULL;
  uint8_t *c = malloc(n);
  if (c) memcpy(c, p, n);
  return c;
}

/* Whether the events carry a usage object (`"usage":null` does not count), as hasUsageObject in sse.ts. */
static int has_usage_object(const uint8_t *d, size_t n) {
  static const char key[] = "\"usage\":";
  const size_t k = sizeof key - 1;
  const uint8_t *p = d, *end = d + n;
  while ((p = memmem(p, (size_t)(end - p), key, k)) != NULL) {
    p += k;
    while (p < end && *p == ' ') p++;
    if (p < end && *p == '{') return 1;
  }
  return 0;
}

enum { CHUNK_MORE = 0, CHUNK_EVENTS = 1, CHUNK_USAGE = 2, CHUNK_LAST = 3, CHUNK_OTHER = -1 };

/*
 * What p starts with: one whole chunk of whole events, without a usage
 * object (CHUNK_EVENTS) or with one (CHUNK_USAGE), its length in *len, its
 * data at *data, *data_len long; the last chunk exactly as "0\r\n\r\n"
 * (CHUNK_LAST, no extension, no trailers); CHUNK_MORE when it has not all
 * arrived; CHUNK_OTHER for anything the JavaScript path must see.
 */
static int next_chunk(const uint8_t *p, size_t n, size_t *len, size_t *data, size_t *data_len) {
  static const char last[] = "0\r\n\r\n";
  /* A size line of "0" alone (a size with a leading zero, "0a", is a data chunk, read below). */
  if (n > 0 && p[0] == '0' && (n == 1 || p[1] == '\r')) {
    size_t k = n < 5 ? n : 5;
    if (memcmp(p, last, k) != 0) return CHUNK_OTHER;
    if (n < 5) return CHUNK_MORE;
    *len = 5;
    *data = *data_len = 0;
    return CHUNK_LAST;
  }
  size_t i = 0, size = 0;
  for (; i < n && i <= 12; i++) {
    uint8_t c = p[i], lower = c | 0x20;
    if (c >= '0' && c <= '9') size = size * 16 + (c - '0');
    else if (lower >= 'a' && lower <= 'f') size = size * 16 + (lower - 'a' + 10);
    else break;
  }
  if (i == n) return CHUNK_MORE;
  if (i == 0 || i > 12 || p[i] != '\r' || size == 0) return CHUNK_OTHER;
  if (i + 1 == n) return CHUNK_MORE;
  if (p[i + 1] != '\n') return CHUNK_OTHER;
  size_t start = i + 2, whole = start + size + 2;
  if (whole > n) return whole > MAX_PARTIAL ? CHUNK_OTHER : CHUNK_MORE;
  if (p[whole - 2] != '\r' || p[whole - 1] != '\n') return CHUNK_OTHER;
  const uint8_t *d = p + start;
  int ends_event = size >= 2 && d[size - 1] == '\n' &&
    (d[size - 2] == '\n' || (size >= 4 && d[size - 2] == '\r' && d[size - 3] == '\n' && d[size - 4] == '\r'));
  if (!ends_event) return CHUNK_OTHER;
  *len = whole;
  *data = start;
  *data_len = size;
  return has_usage_object(d, size) ? CHUNK_USAGE : CHUNK_EVENTS;
}

/*
 * A strict reading of JSON (RFC 8259: the grammar JSON.parse accepts), for
 * the few facts SseUsageFilter takes from a usage event. Every function
 * returns 0 where the text is not JSON or is beyond this reading.
 */
typedef struct {
  const uint8_t *p, *end;
} json_t;

static void json_ws(json_t *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

/* A string; *s and *n its raw contents, *plain when it has no escape. */
static int json_string(json_t *j, const uint8_t **s, size_t *n, int *plain) {
  if (j->p >= j->end || *j->p != '"') return 0;
  const uint8_t *start = ++j->p;
  *plain = 1;
  while (j->p < j->end) {
    uint8_t c = *j->p;
    if (c == '"') {
      *s = start;
      *n = (size_t)(j->p - start);
      j->p++;
      return 1;
    }
    if (c < 0x20) return 0;
    if (c == '\\') {
      *plain = 0;
      if (++j->p >= j->end) return 0;
      c = *j->p;
      if (c == 'u') {
        for (int k = 0; k < 4; k++) {
          if (++j->p >= j->end || !isxdigit(*j->p)) return 0;
        }
      } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't') {
        return 0;
      }
    }
    j->p++;
  }
  return 0;
}

static int json_number(json_t *j) {
  const uint8_t *p = j->p, *e = j->end;
  if (p < e && *p == '-') p++;
  if (p >= e) return 0;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') {
    while (p < e && isdigit(*p)) p++;
  } else return 0;
  if (p < e && *p == '.') {
    if (++p >= e || !isdigit(*p)) return 0;
    while (p < e && isdigit(*p)) p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    if (++p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || !isdigit(*p)) return 0;
    while (p < e && isdigit(*p)) p++;
  }
  j->p = p;
  return 1;
}

static int json_literal(json_t *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return 0;
  j->p += n;
  return 1;
}

typedef void (*member_fn)(const uint8_t *name, size_t name_len, const uint8_t *value, const uint8_t *value_end, uint8_t kind, int empty, void *ctx);

static int json_members(json_t *j, int depth, member_fn member, void *ctx);

/* Any value; *kind is its first byte ('{', '[', '"', 't', 'f', 'n', or '0' for a number), *empty for {} and []. */
static int json_value(json_t *j, int depth, uint8_t *kind, int *empty) {
  json_ws(j);
  if (j->p >= j->end || depth > 64) return 0;
  uint8_t c = *j->p;
  *kind = c;
  *empty = 0;
  if (c == '{') {
    const uint8_t *open = j->p;
    if (!json_members(j, depth, NULL, NULL)) return 0;
    *empty = memchr(open, ':', (size_t)(j->p - open)) == NULL;
    return 1;
  }
  if (c == '[') {
    j->p++;
    json_ws(j);
    if (j->p < j->end && *j->p == ']') {
      j->p++;
      *empty = 1;
      return 1;
    }
    for (;;) {
      uint8_t k;
      int e;
      if (!json_value(j, depth + 1, &k, &e)) return 0;
      json_ws(j);
      if (j->p >= j->end) return 0;
      if (*j->p == ',') j->p++;
      else if (*j->p == ']') {
        j->p++;
        return 1;
      } else return 0;
    }
  }
  if (c == '"') {
    const uint8_t *s;
    size_t n;
    int plain;
    return json_string(j, &s, &n, &plain);
  }
  if (c == '-' || isdigit(c)) {
    *kind = '0';
    return json_number(j);
  }
  return json_literal(j, "true") || json_literal(j, "false") || json_literal(j, "null");
}

/*
 * The object at j->p. With `member`, its members as JSON.parse keeps them
 * (the last of a name twice wins there): member(name, the value's start and
 * end, its kind, empty, ctx) for each, and 0 for a name with an escape in it
 * (what it names is JavaScript's to read).
 */
static int json_members(json_t *j, int depth, member_fn member, void *ctx) {
  json_ws(j);
  if (j->p >= j->end || *j->p != '{') return 0;
  j->p++;
  json_ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 1;
  }
  for (;;) {
    const uint8_t *name;
    size_t name_len;
    int plain, empty;
    uint8_t kind;
    json_ws(j);
    if (!json_string(j, &name, &name_len, &plain) || (member && !plain)) return 0;
    json_ws(j);
    if (j->p >= j->end || *j->p != ':') return 0;
    j->p++;
    json_ws(j);
    const uint8_t *value = j->p;
    if (!json_value(j, depth + 1, &kind, &empty)) return 0;
    if (member) member(name, name_len, value, j->p, kind, empty, ctx);
    json_ws(j);
    if (j->p >= j->end) return 0;
    if (*j->p == ',') j->p++;
    else if (*j->p == '}') {
      j->p++;
      return 1;
    } else return 0;
  }
}

static int is_name(const uint8_t *name, size_t n, const char *want) {
  return n == strlen(want) && memcmp(name, want, n) == 0;
}

typedef struct {
  int choices_empty; /* Array.isArray(choices) && choices.length === 0 */
  uint8_t usage_kind; /* 0 when there is none */
  const uint8_t *usage, *usage_end;
} event_facts_t;

static void event_member(const uint8_t *name, size_t n, const uint8_t *value, const uint8_t *value_end, uint8_t kind, int empty, void *ctx) {
  event_facts_t *f = ctx;
  if (is_name(name, n, "choices")) f->choices_empty = kind == '[' && empty;
  else if (is_name(name, n, "usage")) {
    f->usage_kind = kind;
    f->usage = value;
    f->usage_end = value_end;
  }
}

/*
 * Whether a JSON number is surely one reportedUsage (tokens.ts) keeps: plain
 * digits, from 0 up to what a usage row holds (MAX_COUNT there, 2147483647).
 * Anything else ("7", -2.5, 1e3, 4294967295) is left to JavaScript, which
 * then has the kept events for an estimate. The number is JSON (no leading
 * zero), so ten digits compare as text.
 */
static int is_count(const uint8_t *value, const uint8_t *value_end, uint8_t kind) {
  static const char max_count[] = "2147483647";
  size_t n = (size_t)(value_end - value);
  if (kind != '0' || n == 0 || n > sizeof max_count - 1) return 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit(value[i])) return 0;
  }
  return n < sizeof max_count - 1 || memcmp(value, max_count, n) <= 0;
}

static void usage_member(const uint8_t *name, size_t n, const uint8_t *value, const uint8_t *value_end, uint8_t kind, int empty, void *ctx) {
  (void)empty;
  int *seen = ctx;
  int bit = is_name(name, n, "prompt_tokens") ? 1 : is_name(name, n, "completion_tokens") ? 2 : 0;
  /* Set or cleared by each member: JSON.parse keeps the last of a name given twice. */
  if (bit) *seen = is_count(value, value_end, kind) ? *seen | bit : *seen & ~bit;
}

/*
 * One chunk's data that carries a usage object, read event by event as
 * SseUsageFilter.filter reads it: the events that go on are copied to out
 * (*out_len), the usage is kept in the slot. 0: JavaScript must read it.
 */
static int read_usage_chunk(relay_t *r, const uint8_t *d, size_t n, uint8_t *out, size_t *out_len) {
  /* ASCII only: then the bytes are the string JavaScript splits and parses, and its re-encoding changes nothing. */
  for (size_t i = 0; i < n; i++) {
    if (d[i] >= 0x80) return 0;
  }
  *out_len = 0;
  for (size_t start = 0, k = 0; k < n; k++) {
    /* Events end after "\n\n" or "\r\n\r\n", looked for across event boundaries as the split's lookbehind does. */
    int boundary = d[k] == '\n' && ((k >= 1 && d[k - 1] == '\n') || (k >= 3 && d[k - 1] == '\r' && d[k - 2] == '\n' && d[k - 3] == '\r'));
    if (!boundary && k + 1 < n) continue;
    const uint8_t *e = d + start;
    size_t e_len = k + 1 - start;
    start = k + 1;
    int drop = 0;
    if (e_len >= 5 && memcmp(e, "data:", 5) == 0) {
      /* event.slice(5).trim(): ASCII whitespace, the only kind here. */
      const uint8_t *t = e + 5, *t_end = e + e_len;
      while (t < t_end && (*t == ' ' || (*t >= '\t' && *t <= '\r'))) t++;
      while (t_end > t && (t_end[-1] == ' ' || (t_end[-1] >= '\t' && t_end[-1] <= '\r'))) t_end--;
      if (t < t_end && *t == '{' && memmem(t, (size_t)(t_end - t), "\"usage\"", 7)) {
        event_facts_t f = { 0, 0, NULL, NULL };
        json_t j = { t, t_end };
        if (!json_members(&j, 0, event_member, &f)) return 0;
        json_ws(&j);
        if (j.p != t_end) return 0;
        if (f.usage_kind == '{') {
          int seen = 0;
          json_t u = { f.usage, f.usage_end };
          if (!json_members(&u, 1, usage_member, &seen)) return 0;
          uint8_t *copy = copy_of(t, (size_t)(t_end - t));
          if (!copy) return 0;
          free(r->usage);
          r->usage = copy;
          r->usage_len = (size_t)(t_end - t);
          r->usage_counted = seen == 3;
        } else if (f.usage_kind != 0 && f.usage_kind != 'n') {
          return 0; /* a usage that is neither an object nor null: its truth is JavaScript's to judge */
        }
        drop = r->usage_mode == USAGE_DROP && f.choices_empty;
      }
    }
    if (!drop) {
      memcpy(out + *out_len, e, e_len);
      *out_len += e_len;
    }
  }
  return 1;
}

static void keep(relay_t *r, const uint8_t *d, size_t n) {
  size_t room = MAX_KEPT - r->kept_len;
  if (n > room) n = room;
  if (n == 0) return;
  if (r->kept_len + n > r->kept_cap) {
    size_t cap = r->kept_cap ? r->kept_cap * 2 : 4096;
    while (cap < r->kept_len + n) cap *= 2;
    if (cap > MAX_KEPT) cap = MAX_KEPT;
    uint8_t *grown = realloc(r->kept, cap);
    if (!grown) return;
    r->kept = grown;
    r->kept_cap = cap;
  }
  memcpy(r->kept + r->kept_len, d, n);
  r->kept_len += n;
}

/* Frees a slot and its descriptors. Under the lock (start, which takes none, only fills a slot whose id reads 0). */
static void release(relay_t *r) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, r->up, NULL);
  close(r->up);
  close(r->down);
  free(r->partial);
  free(r->head_before);
  free(r->head_after);
  free(r->kept);
  free(r->usage);
  memset((uint8_t *)r + sizeof r->id, 0, sizeof *r - sizeof r->id);
  __atomic_store_n(&r->id, 0, __ATOMIC_RELEASE);
}

/* Queues a message for JavaScript (a hand-back, or the head notice). Under the lock. */
static void post(back_t *b) {
  /* Without memory for the message the stream cannot be resumed: its call ends when the client leaves. */
  if (b && napi_call_threadsafe_function(tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
    free(b->out);
    free(b->rest);
    free(b->kept);
    free(b->usage);
    free(b);
  }
}

/* Gives the stream back to JavaScript. Under the lock. */
static void hand_back(relay_t *r, int reason, int err, const uint8_t *out, size_t out_len, const uint8_t *rest, size_t rest_len) {
  back_t *b = calloc(1, sizeof *b);
  if (b) {
    b->id = r->id;
    b->reason = reason;
    b->err = err;
    b->out = copy_of(out, out_len);
    b->out_len = b->out ? out_len : 0;
    b->rest = copy_of(rest, rest_len);
    b->rest_len = b->rest ? rest_len : 0;
    /* An ended or cancelled stream whose usage has both counts needs no estimate: its events stay here. */
    if ((reason != BACK_END && reason != BACK_CANCELLED) || !r->usage_counted) {
      b->kept = r->kept;
      b->kept_len = r->kept_len;
      r->kept = NULL;
    }
    b->usage = r->usage;
    b->usage_len = r->usage_len;
    r->usage = NULL;
  }
  release(r);
  post(b);
}

/* Tells JavaScript the client has its head: `head` is the upstream's, for what JavaScript reads of it. Under the lock. */
static void notify_head(relay_t *r, const uint8_t *head, size_t head_len) {
  r->head_sent = 1;
  free(r->head_before);
  free(r->head_after);
  r->head_before = r->head_after = NULL;
  back_t *b = calloc(1, sizeof *b);
  if (b) {
    b->id = r->id;
    b->reason = BACK_HEAD;
    b->rest = copy_of(head, head_len);
    b->rest_len = b->rest ? head_len : 0;
  }
  post(b);
}

/* What pump decided, acted on under the lock once its read and write are done. */
typedef struct {
  int reason; /* -1: keep relaying */
  int err;
  const uint8_t *out, *rest;
  size_t out_len, rest_len;
  /* The upstream's head, when this pump wrote the client's (or began to): the notice for JavaScript. */
  const uint8_t *head;
  size_t head_len;
  /* Buffers of this pump's that `out` may point into, freed once the verdict is acted on. */
  uint8_t *owned, *owned_body;
} verdict_t;

static void keep_partial(relay_t *r, const uint8_t *p, size_t n) {
  r->partial = copy_of(p, n);
  r->partial_len = r->partial ? n : 0;
}

/* Whether d[0, n) is `name` (given in lower case), letters in either case. */
static int same_name(const uint8_t *d, size_t n, const char *name) {
  if (n != strlen(name)) return 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t want = (uint8_t)name[i];
    if (d[i] != want && !(want >= 'a' && want <= 'z' && (d[i] | 0x20) == want)) return 0;
  }
  return 1;
}

/* A transfer-encoding value whose last coding is chunked, as the stream client reads it: /(^|,)\s*chunked\s*$/i. */
static int ends_chunked(const uint8_t *v, size_t n) {
  if (n < 7 || !same_name(v + n - 7, 7, "chunked")) return 0;
  size_t i = n - 7;
  while (i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t')) i--;
  return i == 0 || v[i - 1] == ',';
}

/*
 * The upstream's head in h[0, n), through its blank line: 1 when it is a
 * plain `HTTP/1.1 200` with chunked framing and a content type that can go
 * into the client's head as it is (its value at *ct, *ct_len); 0 for
 * anything else, which JavaScript reads instead.
 */
static int relayable_head(const uint8_t *h, size_t n, const uint8_t **ct, size_t *ct_len) {
  if (n < 16 || memcmp(h, "HTTP/1.1 200", 12) != 0 || (h[12] != ' ' && h[12] != '\r')) return 0;
  int chunked = 0;
  *ct = NULL;
  *ct_len = 0;
  const uint8_t *end = h + n;
  for (const uint8_t *eol = memchr(h, '\n', n); eol && eol + 1 < end;) {
    const uint8_t *start = eol + 1;
    eol = memchr(start, '\n', (size_t)(end - start));
    if (!eol) break;
    const uint8_t *stop = eol > start && eol[-1] == '\r' ? eol - 1 : eol;
    const uint8_t *colon = memchr(start, ':', (size_t)(stop - start));
    if (!colon) continue;
    const uint8_t *v = colon + 1, *ve = stop;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    if (same_name(start, (size_t)(colon - start), "transfer-encoding")) chunked = ends_chunked(v, (size_t)(ve - v));
    else if (same_name(start, (size_t)(colon - start), "content-type")) {
      *ct = v;
      *ct_len = (size_t)(ve - v);
    }
  }
  if (!chunked || !*ct || *ct_len == 0) return 0;
  /* What Node's own header check refuses (its writeHead sees the same value afterwards). */
  for (size_t i = 0; i < *ct_len; i++) {
    if (((*ct)[i] < 0x20 && (*ct)[i] != '\t') || (*ct)[i] == 0x7f) return 0;
  }
  return 1;
}

/* One read from the upstream and the write it allows. Without the lock: only this thread touches a busy slot's buffers. */
static verdict_t pump(relay_t *r, uint8_t *buf) {
  verdict_t v = { -1, 0, NULL, NULL, 0, 0, NULL, 0, NULL, NULL };
  size_t have = r->partial_len;
  if (have) {
    memcpy(buf, r->partial, have);
    free(r->partial);
    r->partial = NULL;
    r->partial_len = 0;
  }
  ssize_t n = read(r->up, buf + have, READ_BUF - have);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    if (have) keep_partial(r, buf, have);
    return v;
  }
  if (n <= 0) {
    /* The end or an error: JavaScript reads the socket again and meets it itself. */
    v.reason = BACK_DATA;
    v.rest = buf;
    v.rest_len = have;
    return v;
  }
#ifdef SSE_RELAY_TEST_HOOKS
  int delay_ms = __atomic_load_n(&test_pump_delay_ms, __ATOMIC_ACQUIRE);
  if (delay_ms > 0) usleep((useconds_t)delay_ms * 1000);
#endif
  r->deadline = now_ms() + r->timeout_ms;
  size_t len = have + (size_t)n, at = 0, whole, data, data_len;
  const uint8_t *ct = NULL;
  size_t ct_len = 0;
  if (r->head_before) {
    /* The upstream's head is awaited: whole, and one the relay answers, or everything goes back unread by the client. */
    const uint8_t *blank = memmem(buf, len, "\r\n\r\n", 4);
    if (!blank) {
      if (len > MAX_PARTIAL) {
        v.reason = BACK_DATA;
        v.rest = buf;
        v.rest_len = len;
      } else {
        keep_partial(r, buf, len);
      }
      return v;
    }
    size_t head_len = (size_t)(blank - buf) + 4;
    if (!relayable_head(buf, head_len, &ct, &ct_len)) {
      v.reason = BACK_DATA;
      v.rest = buf;
      v.rest_len = len;
      return v;
    }
    v.head = buf;
    v.head_len = head_len;
    at = head_len;
  }
  size_t first = at;
  int verdict = CHUNK_EVENTS, ended = 0;
  /* The body as it goes to the client once a chunk was changed (an event dropped); until then it is buf's own bytes. */
  uint8_t *body = NULL;
  size_t body_len = 0;
  while (at < len) {
    verdict = next_chunk(buf + at, len - at, &whole, &data, &data_len);
    if (verdict == CHUNK_EVENTS) {
      keep(r, buf + at + data, data_len);
      if (body) {
        memcpy(body + body_len, buf + at, whole);
        body_len += whole;
      }
    } else if (verdict == CHUNK_USAGE && r->usage_mode != USAGE_HAND_BACK) {
      uint8_t *events = malloc(data_len);
      size_t events_len = 0;
      if (!events || !read_usage_chunk(r, buf + at + data, data_len, events, &events_len)) {
        free(events);
        verdict = CHUNK_OTHER;
        break;
      }
      keep(r, buf + at + data, data_len);
      if (events_len != data_len && !body) {
        /* The first change: the body so far is copied, and built from here on (it only shrinks). */
        body = malloc(len - first);
        if (!body) {
          free(events);
          verdict = CHUNK_OTHER;
          break;
        }
        memcpy(body, buf + first, at - first);
        body_len = at - first;
      }
      if (body && events_len == data_len) {
        /* Unchanged: as the upstream framed it. */
        memcpy(body + body_len, buf + at, whole);
        body_len += whole;
      } else if (body && events_len > 0) {
        /* One HTTP/1.1 chunk of the events that go on, as frameOf in chunked.ts writes it (never longer than the upstream's). */
        body_len += (size_t)sprintf((char *)body + body_len, "%zx\r\n", events_len);
        memcpy(body + body_len, events, events_len);
        body_len += events_len;
        memcpy(body + body_len, "\r\n", 2);
        body_len += 2;
      }
      free(events);
    } else if (verdict == CHUNK_LAST && r->usage_mode != USAGE_HAND_BACK && at + whole == len) {
      if (body) {
        memcpy(body + body_len, buf + at, whole);
        body_len += whole;
      }
      ended = 1;
    } else {
      if (verdict != CHUNK_MORE) verdict = CHUNK_OTHER;
      break;
    }
    at += whole;
  }
  const uint8_t *send_from = body ? body : buf + first;
  size_t send_len = body ? body_len : at - first;
  v.owned_body = body;
  if (v.head) {
    /* One write: the client's head (the upstream's content type in it), then the events that came with it. */
    size_t head_out = r->head_before_len + ct_len + r->head_after_len;
    uint8_t *msg = malloc(head_out + send_len);
    if (!msg) {
      v.head = NULL;
      v.reason = BACK_DATA;
      v.rest = buf;
      v.rest_len = len;
      return v;
    }
    memcpy(msg, r->head_before, r->head_before_len);
    memcpy(msg + r->head_before_len, ct, ct_len);
    memcpy(msg + r->head_before_len + ct_len, r->head_after, r->head_after_len);
    memcpy(msg + head_out, send_from, send_len);
    v.owned = msg;
    /* A cancel that came first was told the client has no head (JavaScript may answer it): nothing goes out. */
    pthread_mutex_lock(&lock);
    int cancelled = r->cancelled;
    if (!cancelled) r->writing_head = 1;
    pthread_mutex_unlock(&lock);
    if (cancelled) {
      v.head = NULL;
      v.reason = -1;
      return v;
    }
    send_from = msg;
    send_len += head_out;
  }
  size_t written = 0;
  while (written < send_len) {
    ssize_t w = send(r->down, send_from + written, send_len - written, MSG_NOSIGNAL);
    if (w >= 0) written += (size_t)w;
    else if (errno == EAGAIN) break;
    else if (errno != EINTR) {
      v.reason = BACK_CLIENT_FAILED;
      v.err = errno;
      /* The client has no head unless part of it went out. */
      if (written == 0) v.head = NULL;
      return v;
    }
  }
  if (written < send_len || verdict == CHUNK_OTHER || ended) {
    /* Ended: the last chunk is the client's, or in `out` with what its socket could not take yet. */
    v.reason = ended ? BACK_END : written < send_len ? BACK_CLIENT_FULL : BACK_DATA;
    v.out = send_from + written;
    v.out_len = send_len - written;
    v.rest = buf + at;
    v.rest_len = len - at;
  } else if (at < len) {
    keep_partial(r, buf + at, len - at);
  }
  return v;
}

static void *run(void *unused) {
  (void)unused;
  static uint8_t buf[READ_BUF];
  struct epoll_event events[256];
  int64_t next_scan = now_ms() + SCAN_MS;
  for (;;) {
    int n = epoll_wait(epfd, events, 256, SCAN_MS);
    for (int i = 0; i < n; i++) {
      uint32_t id = events[i].data.u32;
      relay_t *r = &slots[id & 0xffff];
      pthread_mutex_lock(&lock);
      int mine = __atomic_load_n(&r->id, __ATOMIC_ACQUIRE) == id && !r->cancelled;
      /* Not ours (a stale event of the slot's last stream): the slot may be being filled by start. */
      if (mine) r->busy = 1;
      pthread_mutex_unlock(&lock);
      if (!mine) continue;
      verdict_t v = pump(r, buf);
      pthread_mutex_lock(&lock);
      r->busy = 0;
      if (r->cancelled) {
        /*
         * Cancelled meanwhile: JavaScript waits for what the relay held (the
         * events kept for an estimate, the usage read). A body this pump
         * ended is whole: said so, with what the client could not take yet.
         */
        if (v.reason == BACK_END) hand_back(r, BACK_END, 0, v.out, v.out_len, NULL, 0);
        else hand_back(r, BACK_CANCELLED, 0, NULL, 0, NULL, 0);
      } else {
        /* The notice first: JavaScript must know the client has its head before any hand-back. */
        if (v.head) notify_head(r, v.head, v.head_len);
        if (v.reason >= 0) hand_back(r, v.reason, v.err, v.out, v.out_len, v.rest, v.rest_len);
      }
      pthread_mutex_unlock(&lock);
      free(v.owned);
      free(v.owned_body);
    }
    int64_t now = now_ms();
    if (now < next_scan) continue;
    next_scan = now + SCAN_MS;
    pthread_mutex_lock(&lock);
    for (int s = 0, n_slots = __atomic_load_n(&high_water, __ATOMIC_ACQUIRE); s < n_slots; s++) {
      if (__atomic_load_n(&slots[s].id, __ATOMIC_ACQUIRE) && !slots[s].cancelled && slots[s].deadline <= now) hand_back(&slots[s], BACK_TIMEOUT, 0, NULL, 0, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

/* A Buffer with a copy of p, or undefined for nothing (most of a message's parts: no object made for them). */
static napi_value buffer_or_undefined(napi_env env, const uint8_t *p, size_t n) {
  napi_value value;
  if (n == 0 || napi_create_buffer_copy(env, n, p, NULL, &value) != napi_ok) napi_get_undefined(env, &value);
  return value;
}

/* On the JavaScript thread: (id, reason, errno, out, rest, kept, usage) to the callback given to init. */
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  back_t *b = data;
  if (env != NULL) {
    napi_value argv[7], undefined;
    napi_get_undefined(env, &undefined);
    napi_create_uint32(env, b->id, &argv[0]);
    napi_create_int32(env, b->reason, &argv[1]);
    napi_create_int32(env, b->err, &argv[2]);
    argv[3] = buffer_or_undefined(env, b->out, b->out_len);
    argv[4] = buffer_or_undefined(env, b->rest, b->rest_len);
    argv[5] = buffer_or_undefined(env, b->kept, b->kept_len);
    argv[6] = buffer_or_undefined(env, b->usage, b->usage_len);
    napi_call_function(env, undefined, callback, 7, argv, NULL);
  }
  free(b->out);
  free(b->rest);
  free(b->kept);
  free(b->usage);
  free(b);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* init(callback): starts the relay thread; callback receives every stream handed back. */
static napi_value init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return fail(env, "init(callback)");
  napi_threadsafe_function created;
  napi_create_string_utf8(env, "quarterdeck-sse-relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &created) != napi_ok) return fail(env, "could not create the relay's callback");
  /* The relay never keeps the process alive by itself. */
  napi_unref_threadsafe_function(env, created);
  if (epfd >= 0) {
    /* Loaded again (a test runner's fresh module registry): hand-backs go to the newest callback. */
    pthread_mutex_lock(&lock);
    napi_threadsafe_function old = tsfn;
    tsfn = created;
    pthread_mutex_unlock(&lock);
    napi_release_threadsafe_function(old, napi_tsfn_release);
    return NULL;
  }
  tsfn = created;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return fail(env, "epoll_create1 failed");
  pthread_t thread;
  if (pthread_create(&thread, NULL, run, NULL) != 0) return fail(env, "could not start the relay thread");
  pthread_detach(thread);
  return NULL;
}

/*
 * start(upstreamFd, clientFd, timeoutMs, usageMode[, headBefore, headAfter])
 * → id, or 0 when the relay cannot take the stream. usageMode: what it does
 * with the usage event and the body's end (USAGE_*). With the two buffers
 * (the client's response head, split where the upstream's content type goes)
 * the relay starts before the upstream's head and answers the client itself.
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], result;
  int32_t up, down, timeout_ms, usage_mode;
  void *before = NULL, *after = NULL;
  size_t before_len = 0, after_len = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || napi_get_value_int32(env, argv[0], &up) != napi_ok || napi_get_value_int32(env, argv[1], &down) != napi_ok ||
      napi_get_value_int32(env, argv[2], &timeout_ms) != napi_ok || napi_get_value_int32(env, argv[3], &usage_mode) != napi_ok ||
      usage_mode < USAGE_HAND_BACK || usage_mode > USAGE_DROP ||
      (argc >= 6 && (napi_get_buffer_info(env, argv[4], &before, &before_len) != napi_ok || napi_get_buffer_info(env, argv[5], &after, &after_len) != napi_ok)))
    return fail(env, "start(upstreamFd, clientFd, timeoutMs, usageMode[, headBefore, headAfter])");
  uint32_t id = 0;
  int with_head = argc >= 6 && before_len > 0 && after_len > 0;
  uint8_t *head_before = with_head ? copy_of(before, before_len) : NULL;
  uint8_t *head_after = with_head ? copy_of(after, after_len) : NULL;
  if (with_head && (!head_before || !head_after)) up = -1; /* no memory: JavaScript reads the head */
  if (epfd >= 0 && up >= 0 && down >= 0 && timeout_ms > 0) {
    int up_dup = fcntl(up, F_DUPFD_CLOEXEC, 0), down_dup = fcntl(down, F_DUPFD_CLOEXEC, 0);
    for (int tried = 0; up_dup >= 0 && down_dup >= 0 && tried < MAX_RELAYS; tried++, next_slot = (next_slot + 1) % MAX_RELAYS) {
      if (__atomic_load_n(&slots[next_slot].id, __ATOMIC_ACQUIRE)) continue;
      relay_t *r = &slots[next_slot];
      uint16_t generation = (uint16_t)((generations[next_slot] % 0x7fff) + 1);
      uint32_t slot_id = (uint32_t)next_slot | ((uint32_t)generation << 16);
      generations[next_slot] = generation;
      r->up = up_dup;
      r->down = down_dup;
      up_dup = down_dup = -1;
      r->timeout_ms = timeout_ms;
      r->deadline = now_ms() + timeout_ms;
      r->usage_mode = usage_mode;
      if (with_head) {
        r->head_before = head_before;
        r->head_before_len = before_len;
        r->head_after = head_after;
        r->head_after_len = after_len;
        head_before = head_after = NULL;
      }
      if (next_slot >= high_water) __atomic_store_n(&high_water, next_slot + 1, __ATOMIC_RELEASE);
      next_slot = (next_slot + 1) % MAX_RELAYS;
      /* Published before the relay can hear of it: its first event finds the slot whole. */
      __atomic_store_n(&r->id, slot_id, __ATOMIC_RELEASE);
      struct epoll_event ev = { .events = EPOLLIN, .data.u32 = slot_id };
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, r->up, &ev) != 0) {
        pthread_mutex_lock(&lock);
        release(r);
        pthread_mutex_unlock(&lock);
        break;
      }
      id = slot_id;
      break;
    }
    if (up_dup >= 0) close(up_dup);
    if (down_dup >= 0) close(down_dup);
  }
  free(head_before);
  free(head_after);
  napi_create_uint32(env, id, &result);
  return result;
}

/*
 * cancel(id) → CANCEL_* bits: 0 when the relay no longer had the stream (its
 * hand-back is on its way, and any head notice before it); CANCEL_HAD when
 * it had, with CANCEL_HEAD_SENT when the client has (or is being sent, by a
 * write under way) the head the relay answers with. A stream in the middle
 * of a read or write is released when that ends (at most one more chunk
 * reaches the client) and its hand-back then says so (CANCEL_LATER:
 * BACK_CANCELLED, or BACK_END for a body that pump ended). Else it is
 * released at once, and what it held comes back here: [bits, kept, usage]
 * (each a Buffer or undefined) rather than the bits alone, when it held any.
 */
static napi_value cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  uint32_t id = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_uint32(env, argv[0], &id);
  int had = 0;
  uint8_t *kept = NULL, *usage = NULL;
  size_t kept_len = 0, usage_len = 0;
  pthread_mutex_lock(&lock);
  relay_t *r = &slots[id & 0xffff];
  if (id && r->id == id && !r->cancelled) {
    had = CANCEL_HAD | (r->head_sent || r->writing_head ? CANCEL_HEAD_SENT : 0);
    if (r->busy) {
      r->cancelled = 1;
      had |= CANCEL_LATER;
    } else {
      /* Taken from the slot before it is freed; their Buffers are made after the lock (as hand_back's, minus the estimate a count makes needless). */
      if (!r->usage_counted) {
        kept = r->kept;
        kept_len = r->kept_len;
        r->kept = NULL;
      }
      usage = r->usage;
      usage_len = r->usage_len;
      r->usage = NULL;
      release(r);
    }
  }
  pthread_mutex_unlock(&lock);
  napi_create_int32(env, had, &result);
  if (kept || usage) {
    napi_value bits = result;
    napi_create_array_with_length(env, 3, &result);
    napi_set_element(env, result, 0, bits);
    napi_set_element(env, result, 1, buffer_or_undefined(env, kept, kept_len));
    napi_set_element(env, result, 2, buffer_or_undefined(env, usage, usage_len));
    free(kept);
    free(usage);
  }
  return result;
}

#ifdef SSE_RELAY_TEST_HOOKS
/* testPumpDelay(ms): tests only (SSE_RELAY_TEST_HOOKS). */
static napi_value test_pump_delay(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t ms = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_int32(env, argv[0], &ms);
  __atomic_store_n(&test_pump_delay_ms, ms, __ATOMIC_RELEASE);
  return NULL;
}
#endif

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
    { "init", NULL, init, NULL, NULL, NULL, napi_default_method, NULL },
    { "start", NULL, start, NULL, NULL, NULL, napi_default_method, NULL },
    { "cancel", NULL, cancel, NULL, NULL, NULL, napi_default_method, NULL },
#ifdef SSE_RELAY_TEST_HOOKS
    { "testPumpDelay", NULL, test_pump_delay, NULL, NULL, NULL, napi_default_method, NULL },
#endif
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}
