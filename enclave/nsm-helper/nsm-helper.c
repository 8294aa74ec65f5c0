/*
 * attestgate-nsm-helper: ask the AWS Nitro Secure Module for one attestation document.
 *
 * Node cannot issue ioctl(2), so enclave/attesters/nsm.ts runs this program once per request.
 * Protocol (README.md):
 *   stdin   one JSON object {"user_data": b64, "nonce": b64, "public_key": b64} (each optional,
 *           null allowed; standard base64 with padding; at most 8 KiB in all)
 *   stdout  exit 0: the attestation document bytes (COSE_Sign1), nothing else
 *           exit != 0: {"error": "<CODE>", "message": "<text>"} (the message also on stderr)
 *   exit    0 ok, 64 malformed request, 69 no NSM device, 70 NSM error or bad response, 74 I/O
 *
 * NSM interface (aws-nitro-enclaves-nsm-api src/driver and src/api; Linux
 * include/uapi/linux/nsm.h): ioctl(fd, _IOWR(0x0A, 0, struct nsm_raw)) where nsm_raw holds two
 * iovecs, the CBOR request (at most 0x1000 bytes) and a response buffer (0x3000 bytes) whose
 * length the driver sets to the response's length. The request is serde's encoding of
 * Request::Attestation, a map {"Attestation": {"user_data": bstr/null, "nonce": bstr/null,
 * "public_key": bstr/null}}; the answer is {"Attestation": {"document": bstr}} or
 * {"Error": "<ErrorCode>"}.
 *
 * Built with -DNSM_FAKE_DEVICE='"<dir>"' it opens no device: it writes the CBOR request to
 * <dir>/request.cbor and takes the response from <dir>/response.cbor (missing file = no device),
 * and says so on stderr. That build exists for tests only.
 *
 * Input is handled strictly (no escapes, no unknown or repeated keys, canonical base64) because
 * it is the only thing the caller controls; the NSM's answer is decoded strictly and bounded
 * because a wrong document must fail here, not be passed on.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- NSM ABI (include/uapi/linux/nsm.h) ---- */
#define NSM_MAGIC 0x0A
#define NSM_REQUEST_MAX_SIZE 0x1000
#define NSM_RESPONSE_MAX_SIZE 0x3000

struct nsm_iovec {
	uint64_t addr; /* virtual address of the buffer */
	uint64_t len;  /* its length; for the response: capacity in, bytes written out */
};

struct nsm_raw {
	struct nsm_iovec request;
	struct nsm_iovec response;
};

#define NSM_IOCTL_RAW _IOWR(NSM_MAGIC, 0x0, struct nsm_raw)

/* The same layout as nsm-api's NsmMessage {IoSlice, IoSliceMut} on 64-bit targets. */
_Static_assert(sizeof(struct nsm_raw) == 32, "struct nsm_raw must be 32 bytes");

/* ---- limits ---- */
#define MAX_INPUT 8192
/* NSM limits (AWS Nitro Enclaves user guide, attestation document). */
#define MAX_USER_DATA 512
#define MAX_NONCE 512
#define MAX_PUBLIC_KEY 1024

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 64,
	EXIT_UNAVAILABLE = 69,
	EXIT_NSM = 70,
	EXIT_IO = 74,
};

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

__attribute__((noreturn, format(printf, 3, 4)))
static void fail(int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stdout, "{\"error\":");
	json_string(stdout, code);
	fprintf(stdout, ",\"message\":");
	json_string(stdout, msg);
	fprintf(stdout, "}\n");
	fflush(stdout);
	fprintf(stderr, "attestgate-nsm-helper: %s: %s\n", code, msg);
	exit(status);
}

/* ---- request: strict JSON subset ---- */

struct field {
	const char *name;
	size_t max;
	uint8_t *buf;
	size_t len;
	int present; /* 1: bytes given, 0: absent or null */
	int seen;
};

static uint8_t user_data[MAX_USER_DATA];
static uint8_t nonce[MAX_NONCE];
static uint8_t public_key[MAX_PUBLIC_KEY];

static struct field fields[] = {
	{ "user_data", MAX_USER_DATA, user_data, 0, 0, 0 },
	{ "nonce", MAX_NONCE, nonce, 0, 0, 0 },
	{ "public_key", MAX_PUBLIC_KEY, public_key, 0, 0, 0 },
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Canonical standard base64 with padding; returns the decoded length or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;
	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int v[4];
		int pad = 0;
		for (size_t k = 0; k < 4; k++) {
			char c = s[i + k];
			if (c == '=' && last && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad > 0)
				return -1; /* data after padding */
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
		size_t take = 3 - (size_t)pad;
		/* Non-zero bits under the padding would let two texts mean one value. */
		if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
			return -1;
		if (o + take > cap)
			return -2;
		out[o++] = (uint8_t)(w >> 16);
		if (take > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (take > 2)
			out[o++] = (uint8_t)w;
	}
	return (long)o;
}

struct text {
	const char *p;
	size_t n;
	size_t i;
};

static void skip_ws(struct text *t)
{
	while (t->i < t->n && (t->p[t->i] == ' ' || t->p[t->i] == '\t' || t->p[t->i] == '\n' || t->p[t->i] == '\r'))
		t->i++;
}

static int expect(struct text *t, char c)
{
	skip_ws(t);
	if (t->i < t->n && t->p[t->i] == c) {
		t->i++;
		return 1;
	}
	return 0;
}

/* A string without escapes; sets *s, *len to its contents. */
static int string(struct text *t, const char **s, size_t *len)
{
	if (!expect(t, '"'))
		return 0;
	size_t start = t->i;
	while (t->i < t->n && t->p[t->i] != '"') {
		unsigned char c = (unsigned char)t->p[t->i];
		if (c == '\\' || c < 0x20 || c >= 0x7f)
			return 0;
		t->i++;
	}
	if (t->i >= t->n)
		return 0;
	*s = t->p + start;
	*len = t->i - start;
	t->i++;
	return 1;
}

static void parse_request(const char *in, size_t n)
{
	struct text t = { in, n, 0 };
	if (!expect(&t, '{'))
		fail(EXIT_USAGE, "BAD_REQUEST", "request is not a JSON object");
	skip_ws(&t);
	if (!(t.i < t.n && t.p[t.i] == '}')) {
		for (;;) {
			const char *key;
			size_t key_len;
			if (!string(&t, &key, &key_len))
				fail(EXIT_USAGE, "BAD_REQUEST", "expected a key (a string without escapes) at byte %zu", t.i);
			struct field *f = NULL;
			for (size_t k = 0; k < NFIELDS; k++)
				if (strlen(fields[k].name) == key_len && memcmp(fields[k].name, key, key_len) == 0)
					f = &fields[k];
			if (f == NULL)
				fail(EXIT_USAGE, "BAD_REQUEST", "unknown key \"%.*s\"; want user_data, nonce, public_key", (int)(key_len > 32 ? 32 : key_len), key);
			if (f->seen)
				fail(EXIT_USAGE, "BAD_REQUEST", "key %s appears twice", f->name);
			f->seen = 1;
			if (!expect(&t, ':'))
				fail(EXIT_USAGE, "BAD_REQUEST", "expected ':' after %s", f->name);
			skip_ws(&t);
			if (t.n - t.i >= 4 && memcmp(t.p + t.i, "null", 4) == 0) {
				t.i += 4;
			} else {
				const char *v;
				size_t v_len;
				if (!string(&t, &v, &v_len))
					fail(EXIT_USAGE, "BAD_REQUEST", "%s must be a base64 string or null", f->name);
				long got = b64_decode(v, v_len, f->buf, f->max);
				if (got == -2)
					fail(EXIT_USAGE, "BAD_REQUEST", "%s is longer than %zu bytes", f->name, f->max);
				if (got < 0)
					fail(EXIT_USAGE, "BAD_REQUEST", "%s is not canonical base64 with padding", f->name);
				f->len = (size_t)got;
				f->present = 1;
			}
			if (expect(&t, ','))
				continue;
			break;
		}
	}
	if (!expect(&t, '}'))
		fail(EXIT_USAGE, "BAD_REQUEST", "expected ',' or '}' at byte %zu", t.i);
	skip_ws(&t);
	if (t.i != t.n)
		fail(EXIT_USAGE, "BAD_REQUEST", "bytes after the JSON object");
}

/* ---- CBOR (RFC 8949), the few items the NSM exchange needs ---- */

static size_t put_head(uint8_t *p, uint8_t major, size_t n)
{
	uint8_t mt = (uint8_t)(major << 5);
	if (n < 24) {
		p[0] = mt | (uint8_t)n;
		return 1;
	}
	if (n <= 0xff) {
		p[0] = mt | 24;
		p[1] = (uint8_t)n;
		return 2;
	}
	/* Every length here is below 0x10000 (MAX_INPUT bounds them). */
	p[0] = mt | 25;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)n;
	return 3;
}

static size_t put_text(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	size_t h = put_head(p, 3, n);
	memcpy(p + h, s, n);
	return h + n;
}

/* serde's encoding of Request::Attestation { user_data, nonce, public_key }. */
static size_t encode_request(uint8_t *out)
{
	size_t o = 0;
	o += put_head(out + o, 5, 1);
	o += put_text(out + o, "Attestation");
	o += put_head(out + o, 5, NFIELDS);
	for (size_t k = 0; k < NFIELDS; k++) {
		o += put_text(out + o, fields[k].name);
		if (fields[k].present) {
			o += put_head(out + o, 2, fields[k].len);
			memcpy(out + o, fields[k].buf, fields[k].len);
			o += fields[k].len;
		} else {
			out[o++] = 0xf6; /* null: Option::None */
		}
	}
	return o;
}

struct cur {
	const uint8_t *p;
	size_t n;
	size_t i;
};

/* One definite-length head; 0 on anything else (indefinite lengths, 8-byte arguments, end of input). */
static int get_head(struct cur *c, uint8_t *major, size_t *arg)
{
	if (c->i >= c->n)
		return 0;
	uint8_t b = c->p[c->i++];
	uint8_t ai = b & 0x1f;
	*major = b >> 5;
	size_t w;
	if (ai < 24) {
		*arg = ai;
		return 1;
	}
	if (ai == 24)
		w = 1;
	else if (ai == 25)
		w = 2;
	else if (ai == 26)
		w = 4;
	else
		return 0;
	if (c->n - c->i < w)
		return 0;
	size_t v = 0;
	for (size_t k = 0; k < w; k++)
		v = (v << 8) | c->p[c->i++];
	*arg = v;
	return 1;
}

/* A byte or text string of the given major type; points into the buffer. */
static int get_string(struct cur *c, uint8_t want, const uint8_t **s, size_t *len)
{
	uint8_t major;
	size_t n;
	if (!get_head(c, &major, &n) || major != want || n > c->n - c->i)
		return 0;
	*s = c->p + c->i;
	*len = n;
	c->i += n;
	return 1;
}

static int text_is(const uint8_t *s, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(s, want, n) == 0;
}

/* The document from {"Attestation": {"document": bstr}}; exits on an NSM error or anything else. */
static void decode_response(const uint8_t *resp, size_t n, const uint8_t **doc, size_t *doc_len)
{
	struct cur c = { resp, n, 0 };
	uint8_t major;
	size_t count;
	const uint8_t *key;
	size_t key_len;
	if (!get_head(&c, &major, &count) || major != 5 || count != 1)
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM response is not a map of one entry");
	if (!get_string(&c, 3, &key, &key_len))
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM response key is not a text string");
	if (text_is(key, key_len, "Error")) {
		const uint8_t *name;
		size_t name_len;
		if (!get_string(&c, 3, &name, &name_len) || c.i != c.n)
			fail(EXIT_NSM, "BAD_RESPONSE", "NSM Error response without an error code");
		for (size_t k = 0; k < name_len; k++)
			if (name[k] < 0x20 || name[k] >= 0x7f)
				fail(EXIT_NSM, "BAD_RESPONSE", "NSM Error code is not printable");
		fail(EXIT_NSM, "NSM_ERROR", "NSM returned error %.*s", (int)(name_len > 64 ? 64 : name_len), (const char *)name);
	}
	if (!text_is(key, key_len, "Attestation"))
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM response is %.*s, want Attestation", (int)(key_len > 32 ? 32 : key_len), (const char *)key);
	if (!get_head(&c, &major, &count) || major != 5 || count != 1)
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM Attestation response is not a map of one entry");
	if (!get_string(&c, 3, &key, &key_len) || !text_is(key, key_len, "document"))
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM Attestation response has no document key");
	if (!get_string(&c, 2, doc, doc_len))
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM document is not a byte string within the response");
	if (c.i != c.n)
		fail(EXIT_NSM, "BAD_RESPONSE", "%zu bytes after the NSM response", c.n - c.i);
	if (*doc_len == 0)
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM document is empty");
}

/* ---- the device ---- */

static uint8_t request[NSM_REQUEST_MAX_SIZE];
static uint8_t response[NSM_RESPONSE_MAX_SIZE];

static void write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail(EXIT_IO, "IO", "writing %s: %s", what, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

#ifdef NSM_FAKE_DEVICE
static size_t nsm_roundtrip(const uint8_t *req, size_t req_len)
{
	fprintf(stderr, "attestgate-nsm-helper: FAKE NSM DEVICE build (%s), not for production\n", NSM_FAKE_DEVICE);
	int out = open(NSM_FAKE_DEVICE "/request.cbor", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		fail(EXIT_IO, "IO", "cannot write %s: %s", NSM_FAKE_DEVICE "/request.cbor", strerror(errno));
	write_all(out, req, req_len, "request.cbor");
	close(out);
	int in = open(NSM_FAKE_DEVICE "/response.cbor", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		fail(EXIT_UNAVAILABLE, "NO_DEVICE", "cannot open the fake NSM device %s: %s", NSM_FAKE_DEVICE "/response.cbor", strerror(errno));
	size_t n = 0;
	for (;;) {
		ssize_t r = read(in, response + n, sizeof response - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail(EXIT_NSM, "NSM_IOCTL", "fake NSM read: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == sizeof response) {
			uint8_t extra;
			if (read(in, &extra, 1) > 0)
				fail(EXIT_NSM, "NSM_IOCTL", "fake NSM response is larger than %d bytes", NSM_RESPONSE_MAX_SIZE);
			break;
		}
	}
	close(in);
	return n;
}
#else
static size_t nsm_roundtrip(const uint8_t *req, size_t req_len)
{
	int fd = open("/dev/nsm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail(EXIT_UNAVAILABLE, "NO_DEVICE", "cannot open /dev/nsm: %s (not inside a Nitro enclave?)", strerror(errno));
	struct nsm_raw raw;
	memset(&raw, 0, sizeof raw);
	raw.request.addr = (uint64_t)(uintptr_t)req;
	raw.request.len = req_len;
	raw.response.addr = (uint64_t)(uintptr_t)response;
	raw.response.len = sizeof response;
	int rc;
	do
		rc = ioctl(fd, NSM_IOCTL_RAW, &raw);
	while (rc < 0 && errno == EINTR);
	int err = errno;
	close(fd);
	if (rc < 0)
		fail(EXIT_NSM, "NSM_IOCTL", "NSM ioctl failed: %s", strerror(err));
	/* The driver writes the response length back; never trust it past our buffer. */
	if (raw.response.len > sizeof response)
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM reports a %llu-byte response for a %zu-byte buffer", (unsigned long long)raw.response.len, sizeof response);
	return (size_t)raw.response.len;
}
#endif

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		fail(EXIT_USAGE, "USAGE", "takes no arguments; the request comes on stdin");

	static char input[MAX_INPUT + 1];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, input + n, sizeof input - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail(EXIT_IO, "IO", "reading stdin: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > MAX_INPUT)
			fail(EXIT_USAGE, "BAD_REQUEST", "request is larger than %d bytes", MAX_INPUT);
	}
	parse_request(input, n);

	size_t req_len = encode_request(request);
	size_t resp_len = nsm_roundtrip(request, req_len);
	if (resp_len == 0)
		fail(EXIT_NSM, "BAD_RESPONSE", "NSM returned an empty response");

	const uint8_t *doc;
	size_t doc_len;
	decode_response(response, resp_len, &doc, &doc_len);
	write_all(STDOUT_FILENO, doc, doc_len, "stdout");
	return EXIT_OK;
}
