/*
 * svg.c - the charts of muster validate's report: line charts, grouped bar charts and
 * timelines, each written as a standalone SVG 1.1 document (no script, no external font
 * or image) to be opened in a browser or linked from report.md.
 *
 * The output is a function of the chart alone: numbers are formatted here, digit by
 * digit (no locale can change the decimal point), and there are no ids, dates or
 * random parts, so the same chart gives the same bytes and two reports can be diffed.
 * A value that cannot be placed (NaN, inf, beyond +-1e150, or <= 0 on a log axis) is a
 * gap and is never printed; coordinates are clamped before they are written. Text is
 * measured by an estimate (0.62 em a character) and cut with an ellipsis where it
 * would overflow its place; text that could only overlap other text is left out (a
 * timeline keeps it as the tooltip of its bar).
 */
#define _GNU_SOURCE
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A line or bar chart is 800x450; a timeline is as tall as its rows need. */
#define WIDTH 800.0
#define HEIGHT 450.0
#define VMAX 1e150  /* larger values are gaps: the axis arithmetic stays finite */
#define VMIN 1e-150 /* on a log axis, smaller values are gaps */
#define EM 0.62	    /* the width of a character, in font sizes (a generous sans-serif) */
#define INK "#222"
#define MUTED "#666"
#define GRID "#e2e2e2"
#define ELLIPSIS "\xe2\x80\xa6"
#define REPLACEMENT "\xef\xbf\xbd"

/* Okabe and Ito's colour-blind-safe palette without its yellow, which is unreadable on
 * white. Series past the seventh repeat the colours with dashed lines (line charts) or
 * lighter fills (bar charts). */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
				      "#CC79A7", "#56B4E9", "#000000"};
#define NPALETTE (sizeof palette / sizeof palette[0])
static const char *const dashes[] = {"", "7,3", "2,3", "8,3,2,3"};
#define NDASHES (sizeof dashes / sizeof dashes[0])
/* A timeline's bars take a colour per row; its point events are vermilion diamonds, so
 * vermilion is kept out of the rows' colours. */
static const char *const row_palette[] = {"#0072B2", "#009E73", "#E69F00",
					  "#CC79A7", "#56B4E9", "#555555"};
#define NROW_PALETTE (sizeof row_palette / sizeof row_palette[0])
#define EVENT_FILL "#D55E00"

/* --- text ------------------------------------------------------------------------ */

/* The character at s: its length in bytes, and its code point in *cp. A byte that does
 * not start a valid UTF-8 sequence is one character, U+FFFD, so that any input gives a
 * well-formed document. */
static size_t utf8_char(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2, c &= 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, c &= 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) { /* also stops at the terminating NUL */
			*cp = 0xFFFD;
			return 1;
		}
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = c;
	return n;
}

static size_t utf8_count(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	uint32_t cp;

	while (s && *p) {
		p += utf8_char(p, &cp);
		n++;
	}
	return n;
}

/* Writes s escaped for XML, cut to maxch characters (the last one an ellipsis when it
 * is cut). Control characters, which XML 1.0 forbids, become U+FFFD; tabs and line
 * ends become spaces (SVG text is one line). */
static void put_text(FILE *f, const char *s, size_t maxch)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t total = utf8_count(s), i;
	uint32_t cp;

	for (i = 0; s && *p; i++) {
		size_t len = utf8_char(p, &cp);

		if (total > maxch && i + 1 >= maxch) {
			fputs(ELLIPSIS, f);
			break;
		}
		if (cp == '&')
			fputs("&amp;", f);
		else if (cp == '<')
			fputs("&lt;", f);
		else if (cp == '>')
			fputs("&gt;", f);
		else if (cp == '"')
			fputs("&quot;", f);
		else if (cp == '\'')
			fputs("&apos;", f);
		else if (cp == '\t' || cp == '\n' || cp == '\r')
			fputc(' ', f);
		else if (cp < 0x20 || cp == 0xFFFD || cp == 0xFFFE || cp == 0xFFFF)
			fputs(REPLACEMENT, f);
		else
			fwrite(p, 1, len, f);
		p += len;
	}
}

/* The estimated width in pixels of s at font size size, cut to maxch characters. */
static double text_w(const char *s, double size, size_t maxch)
{
	size_t n = utf8_count(s);

	return (double)(n < maxch ? n : maxch) * size * EM;
}

/* --- numbers --------------------------------------------------------------------- */

/* A number as text; a function returning one can be used inline in a printf call (the
 * temporary lives until the end of the full expression). */
struct num {
	char s[32];
};

static const long long pow10_ll[] = {1,	     10,      100,	1000,	   10000,
				     100000, 1000000, 10000000, 100000000, 1000000000};

static struct num sci(double v);

/* v with d decimals (0 to 9), trailing zeros dropped and no "-0". */
static struct num fixed(double v, int d)
{
	struct num n;
	double a = fabs(v) * (double)pow10_ll[d];
	long long r, ip, fp;
	int len;

	if (!isfinite(v)) {
		strcpy(n.s, "0");
		return n;
	}
	if (a >= 9e18)
		return sci(v);
	r = llround(a);
	ip = r / pow10_ll[d];
	fp = r % pow10_ll[d];
	len = snprintf(n.s, sizeof n.s, "%s%lld", v < 0 && r ? "-" : "", ip);
	if (fp && len > 0 && len + 1 + d < (int)sizeof n.s) {
		int i;

		n.s[len] = '.';
		for (i = d; i > 0; i--, fp /= 10)
			n.s[len + i] = (char)('0' + fp % 10);
		len += d + 1;
		while (n.s[len - 1] == '0')
			len--;
		n.s[len] = 0;
	}
	return n;
}

/* v in scientific notation with three significant digits: 1.5e-9, 2e21. */
static struct num sci(double v)
{
	struct num n, m;
	double a = fabs(v), mant;
	int e;

	if (!isfinite(a) || a < 1e-300)
		return fixed(0, 0);
	e = (int)floor(log10(a));
	mant = a / pow(10, e);
	if (mant >= 9.995) {
		mant /= 10;
		e++;
	} else if (mant < 1) {
		mant *= 10;
		e--;
	}
	m = fixed(mant, 2);
	snprintf(n.s, sizeof n.s, "%s%.8se%d", v < 0 ? "-" : "", m.s, e);
	return n;
}

/* A coordinate in pixels, clamped far outside the picture. */
static struct num px(double v)
{
	if (!isfinite(v))
		v = 0;
	return fixed(fmin(fmax(v, -1e5), 1e5), 1);
}

static const char *const suffix[] = {"", "k", "M", "G", "T", "P", "E"};

/* v with the suffix of its thousands and d decimals left after the division. */
static struct num with_suffix(double v, double a, int s, int d)
{
	struct num n, m = fixed(v < 0 ? -a : a, d);

	snprintf(n.s, sizeof n.s, "%.24s%s", m.s, suffix[s]);
	return n;
}

/* A tick's label: v is a multiple of the axis's step (1, 2 or 5 times 10^k), so the
 * label has just the decimals the step needs: 0.5, 10, 2.5k, 1M. */
static struct num tick_label(double v, int k)
{
	double a = fabs(v);
	int s = 0, d;

	if (a < pow(10, k) / 4)
		return fixed(0, 0);
	while (s < 6 && a >= 1000) {
		a /= 1000;
		s++;
	}
	d = 3 * s - k > 0 ? 3 * s - k : 0;
	if (d > 6 || a >= 1000)
		return sci(v);
	return with_suffix(v, a, s, d);
}

/* A measured value's label: three significant digits, compact (0.0123, 4.56, 789,
 * 12.3k, 4.5M). */
static struct num value_label(double v)
{
	double a = fabs(v);
	int s = 0, d;

	if (!isfinite(v) || a < VMIN)
		return fixed(0, 0);
	while (s < 6 && a >= 999.5) {
		a /= 1000;
		s++;
	}
	if (a >= 999.5 || a < 1e-4)
		return sci(v);
	if (a >= 99.95)
		d = 0;
	else if (a >= 9.995)
		d = 1;
	else if (a >= 0.9995)
		d = 2;
	else
		d = 2 - (int)floor(log10(a));
	return with_suffix(v, a, s, d);
}

/* --- axes ------------------------------------------------------------------------ */

struct axis {
	int log;	 /* a log axis: lo, hi and the ticks are in decades (log10) */
	double lo, hi;	 /* the range shown, from tick to tick */
	double dlo, dhi; /* the range of the data (never empty) */
	int m, k;	 /* the step between ticks: m * 10^k, m = 1, 2 or 5 */
	int every;	 /* labels on every nth tick only */
};

static int drawable(double v, int log)
{
	return isfinite(v) && fabs(v) < VMAX && (!log || v >= VMIN);
}

static double step_of(const struct axis *ax)
{
	return ax->m * pow(10, ax->k);
}

static void axis_snap(struct axis *ax)
{
	double step = step_of(ax);

	ax->lo = floor(ax->dlo / step) * step;
	ax->hi = ceil(ax->dhi / step) * step;
}

/* A linear axis over [lo, hi] with about target ticks at a step of 1, 2 or 5 times a
 * power of ten. One value (or values equal but for rounding) gets a range around it:
 * an axis never has a zero range. */
static void axis_linear(struct axis *ax, double lo, double hi, int target)
{
	double big = fmax(fabs(lo), fabs(hi)), raw, mant;

	*ax = (struct axis){.every = 1};
	if (big == 0) {
		hi = 1;
	} else if (hi - lo <= big * 1e-9) {
		lo -= big / 10;
		hi += big / 10;
	}
	ax->dlo = lo;
	ax->dhi = hi;
	raw = (hi - lo) / target;
	ax->k = (int)floor(log10(raw));
	mant = raw / pow(10, ax->k);
	ax->m = mant <= 1.000001 ? 1 : mant <= 2.000001 ? 2 : mant <= 5.000001 ? 5 : 10;
	if (ax->m == 10) {
		ax->m = 1;
		ax->k++;
	}
	axis_snap(ax);
}

/* The next larger step: fewer ticks. */
static void axis_coarser(struct axis *ax)
{
	if (ax->m == 1) {
		ax->m = 2;
	} else if (ax->m == 2) {
		ax->m = 5;
	} else {
		ax->m = 1;
		ax->k++;
	}
	axis_snap(ax);
}

/* A log axis over [lo, hi] (both > 0) from decade to decade, at least one decade. */
static void axis_log(struct axis *ax, double lo, double hi)
{
	*ax = (struct axis){.log = 1, .m = 1, .k = 0, .every = 1};
	ax->dlo = floor(log10(lo));
	ax->dhi = ceil(log10(hi));
	if (ax->dhi <= ax->dlo)
		ax->dhi = ax->dlo + 1;
	ax->lo = ax->dlo;
	ax->hi = ax->dhi;
	if (ax->hi - ax->lo > 10)
		ax->every = (int)ceil((ax->hi - ax->lo) / 10);
}

static int axis_nticks(const struct axis *ax)
{
	return (int)llround((ax->hi - ax->lo) / step_of(ax)) + 1;
}

/* The value of tick i, in data units. */
static double axis_tick(const struct axis *ax, int i)
{
	double step = step_of(ax), t = (round(ax->lo / step) + i) * step;

	return ax->log ? pow(10, t) : t;
}

static struct num axis_label(const struct axis *ax, int i)
{
	if (ax->log)
		return tick_label(axis_tick(ax, i), (int)llround(ax->lo) + i);
	return tick_label(axis_tick(ax, i), ax->k);
}

/* Where v falls on the axis, from 0 (lo) to 1 (hi). */
static double axis_frac(const struct axis *ax, double v)
{
	return ((ax->log ? log10(v) : v) - ax->lo) / (ax->hi - ax->lo);
}

/* The widest tick label of the axis, in pixels at font size size. */
static double axis_label_w(const struct axis *ax, double size)
{
	double w = 0;
	int i, n = axis_nticks(ax);

	for (i = 0; i < n; i += ax->every)
		w = fmax(w, text_w(axis_label(ax, i).s, size, 48));
	return w;
}

/* Coarser steps until the labels of a horizontal axis len pixels long fit apart. */
static void axis_fit(struct axis *ax, double len)
{
	int guard;

	for (guard = 0; guard < 12 && axis_nticks(ax) > 2; guard++) {
		if (axis_label_w(ax, 11) + 14 <= len / (axis_nticks(ax) - 1))
			break;
		axis_coarser(ax);
	}
}

/* --- the figure ------------------------------------------------------------------ */

struct fig {
	FILE *f;
	const struct vchart *c;
	int err;			 /* the errno of the first failed write */
	double w, h;			 /* the document */
	double left, top, right, bottom; /* the plot area */
	struct axis x, y;
	int legend_rows;
};

/* 0 while every write has succeeded so far; the first failure's errno is kept, since a
 * later library call may change errno. */
static int failed(struct fig *g)
{
	if (!g->err && ferror(g->f))
		g->err = errno ? errno : EIO;
	return g->err;
}

static double xpos(const struct fig *g, double v)
{
	return g->left + axis_frac(&g->x, v) * (g->right - g->left);
}

static double ypos(const struct fig *g, double v)
{
	return g->bottom - axis_frac(&g->y, v) * (g->bottom - g->top);
}

/* A <text> element at (x, y); attrs is more attributes (literal text, or ""). */
static void text(struct fig *g, double x, double y, const char *anchor, double size,
		 const char *attrs, const char *s, size_t maxch)
{
	fprintf(g->f, "<text x=\"%s\" y=\"%s\" font-size=\"%s\"", px(x).s, px(y).s,
		fixed(size, 1).s);
	if (strcmp(anchor, "start") != 0)
		fprintf(g->f, " text-anchor=\"%s\"", anchor);
	fprintf(g->f, "%s>", attrs);
	put_text(g->f, s, maxch);
	fputs("</text>\n", g->f);
}

/* The same, turned a quarter left about (x, y): reads upwards. */
static void text_up(struct fig *g, double x, double y, const char *anchor, double size,
		    const char *attrs, const char *s, size_t maxch)
{
	char buf[200];

	snprintf(buf, sizeof buf, " transform=\"rotate(-90 %s %s)\"%.80s", px(x).s, px(y).s, attrs);
	text(g, x, y, anchor, size, buf, s, maxch);
}

static void line(struct fig *g, double x1, double y1, double x2, double y2, const char *attrs)
{
	fprintf(g->f, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", px(x1).s, px(y1).s,
		px(x2).s, px(y2).s, attrs);
}

static const char *series_name(const struct vchart *c, size_t k, char *buf, size_t size)
{
	if (c->series[k].name)
		return c->series[k].name;
	snprintf(buf, size, "series %zu", k + 1);
	return buf;
}

static void doc_begin(struct fig *g)
{
	fprintf(g->f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%s\" "
		"height=\"%s\" viewBox=\"0 0 %s %s\" font-family=\"DejaVu Sans, Helvetica, "
		"Arial, sans-serif\" fill=\"" INK "\">\n",
		px(g->w).s, px(g->h).s, px(g->w).s, px(g->h).s);
	if (g->c->title) {
		fputs("<title>", g->f);
		put_text(g->f, g->c->title, 400);
		fputs("</title>\n", g->f);
	}
	fprintf(g->f, "<rect width=\"%s\" height=\"%s\" fill=\"#fff\"/>\n", px(g->w).s, px(g->h).s);
}

static int doc_end(struct fig *g)
{
	fputs("</svg>\n", g->f);
	return 0;
}

/* The title, centred; a long one is set smaller, then cut. */
static void draw_title(struct fig *g)
{
	const char *t = g->c->title;
	double size = 16, room = g->w - 24, w = text_w(t, size, SIZE_MAX);

	if (!t)
		return;
	if (w > room)
		size = fmax(11, size * room / w);
	text(g, g->w / 2, 26, "middle", size, " font-weight=\"bold\"", t,
	     (size_t)(room / (size * EM)));
}

#define LEGEND_CHARS 32

/* The legend: one entry a series, in rows from the plot's left edge to the picture's
 * right edge. Returns the number of rows; draws them when draw. */
static int legend(struct fig *g, int draw)
{
	const struct vchart *c = g->c;
	double x = g->left, y = 48;
	int rows = 1;
	size_t k;
	char buf[32];

	for (k = 0; k < c->nseries; k++) {
		const char *name = series_name(c, k, buf, sizeof buf);
		const char *col = palette[k % NPALETTE];
		double w = 24 + text_w(name, 12, LEGEND_CHARS) + 18;

		if (x > g->left && x + w > g->w - 10) {
			x = g->left;
			y += 18;
			rows++;
		}
		if (draw && c->kind == VCHART_BAR) {
			fprintf(g->f,
				"<rect x=\"%s\" y=\"%s\" width=\"12\" height=\"12\" fill=\"%s\" "
				"fill-opacity=\"%s\"/>\n",
				px(x + 3).s, px(y - 10).s, col, k / NPALETTE ? "0.5" : "1");
		} else if (draw) {
			fprintf(g->f,
				"<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" "
				"stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n",
				px(x).s, px(y - 4).s, px(x + 18).s, px(y - 4).s, col,
				*dashes[k / NPALETTE % NDASHES] ? dashes[k / NPALETTE % NDASHES]
								: "none");
			fprintf(g->f, "<circle cx=\"%s\" cy=\"%s\" r=\"3\" fill=\"%s\"/>\n",
				px(x + 9).s, px(y - 4).s, col);
		}
		if (draw)
			text(g, x + 24, y, "start", 12, "", name, LEGEND_CHARS);
		x += w;
	}
	return rows;
}

/* The reference line across the plot, its label in the right margin beside it (where
 * no data can be drawn over it). */
static int has_ref(const struct vchart *c)
{
	return c->ref_label && drawable(c->ref_y, c->log_y);
}

#define REF_CHARS 20

/* The length in bytes of the first line of s, broken before maxch characters: at its
 * last space there, if it has one. */
static size_t line_break(const char *s, size_t maxch)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, at = 0;
	uint32_t cp;

	for (i = 0; *p; i++) {
		if (i == maxch)
			return at ? at : (size_t)((const char *)p - s);
		if (*p == ' ')
			at = (size_t)((const char *)p - s);
		p += utf8_char(p, &cp);
	}
	return (size_t)((const char *)p - s);
}

/* The reference line's label, in up to two lines; its width when !draw. */
static double draw_ref_label(struct fig *g, double x, double y, int draw)
{
	const char *s = g->c->ref_label, *rest;
	size_t n = line_break(s, REF_CHARS);
	char first[4 * REF_CHARS + 1];

	if (!s[n]) {
		if (draw)
			text(g, x, y + 4, "start", 11, "", s, REF_CHARS);
		return text_w(s, 11, REF_CHARS);
	}
	memcpy(first, s, n);
	first[n] = 0;
	rest = s + n + (s[n] == ' ');
	if (draw) {
		text(g, x, y - 2, "start", 11, "", first, REF_CHARS);
		text(g, x, y + 11, "start", 11, "", rest, REF_CHARS);
	}
	return fmax(text_w(first, 11, REF_CHARS), text_w(rest, 11, REF_CHARS));
}

static void draw_ref(struct fig *g)
{
	double y;

	if (!has_ref(g->c))
		return;
	y = ypos(g, g->c->ref_y);
	line(g, g->left, y, g->right, y,
	     "stroke=\"#444\" stroke-width=\"1.5\" stroke-dasharray=\"6,4\"");
	draw_ref_label(g, g->right + 6, y, 1);
}

/* Places the plot area: room on the left for the y axis's labels, at the top for the
 * title and the legend, on the right for the reference line's label. */
static void layout(struct fig *g, double bottom_margin)
{
	double ylabel = g->c->ylabel ? 22 : 0;

	g->left = fmax(44, 10 + ylabel + axis_label_w(&g->y, 11) + 8);
	g->right = g->w - 30;
	if (has_ref(g->c))
		g->right = g->w - fmax(30, draw_ref_label(g, 0, 0, 0) + 14);
	g->legend_rows = legend(g, 0);
	g->top = 48 + 18 * (g->legend_rows - 1) + 20;
	g->bottom = g->h - bottom_margin;
}

/* Horizontal grid lines at the y ticks (and, on a log axis with room, at 2..9 times
 * each decade), their labels and the y axis's name. */
static void draw_y_axis(struct fig *g)
{
	const struct axis *ax = &g->y;
	int i, j, n = axis_nticks(ax);
	double decade = (g->bottom - g->top) / (ax->hi - ax->lo);

	for (i = 0; i < n; i++) {
		double v = axis_tick(ax, i), y = ypos(g, v);

		line(g, g->left, y, g->right, y, "stroke=\"" GRID "\"");
		if (i % ax->every == 0)
			text(g, g->left - 6, y + 4, "end", 11, "", axis_label(ax, i).s, 48);
		for (j = 2; ax->log && decade >= 60 && i + 1 < n && j < 10; j++) {
			y = ypos(g, v * j);
			line(g, g->left, y, g->right, y, "stroke=\"#f0f0f0\"");
		}
	}
	if (g->c->ylabel)
		text_up(g, 20, (g->top + g->bottom) / 2, "middle", 12, "", g->c->ylabel,
			(size_t)((g->bottom - g->top) / (12 * EM)));
}

/* Vertical grid lines at the x ticks, their labels and the x axis's name. */
static void draw_x_axis(struct fig *g)
{
	int i, n = axis_nticks(&g->x);

	for (i = 0; i < n; i++) {
		double x = xpos(g, axis_tick(&g->x, i));

		line(g, x, g->top, x, g->bottom, "stroke=\"" GRID "\"");
		text(g, x, g->bottom + 16, "middle", 11, "", axis_label(&g->x, i).s, 48);
	}
	if (g->c->xlabel)
		text(g, (g->left + g->right) / 2, g->h - 12, "middle", 12, "", g->c->xlabel,
		     (size_t)((g->w - 20) / (12 * EM)));
}

/* The axis lines themselves: left and bottom. */
static void draw_frame(struct fig *g)
{
	fprintf(g->f, "<path d=\"M%s,%s V%s H%s\" fill=\"none\" stroke=\"" INK "\"/>\n",
		px(g->left).s, px(g->top).s, px(g->bottom).s, px(g->right).s);
}

/* A chart with nothing to draw: its title and a frame that says so. */
static int no_data(struct fig *g)
{
	g->w = WIDTH;
	g->h = HEIGHT;
	doc_begin(g);
	draw_title(g);
	fprintf(g->f,
		"<rect x=\"40\" y=\"48\" width=\"%s\" height=\"%s\" fill=\"none\" "
		"stroke=\"" GRID "\"/>\n",
		px(g->w - 80).s, px(g->h - 96).s);
	text(g, g->w / 2, g->h / 2 + 6, "middle", 16, " fill=\"" MUTED "\"", "no data", 10);
	return doc_end(g);
}

/* --- line charts ----------------------------------------------------------------- */

/* The range of the data: lo and hi of n values. */
struct range {
	double lo, hi;
	size_t n;
};

static void range_add(struct range *r, double v)
{
	r->lo = r->n ? fmin(r->lo, v) : v;
	r->hi = r->n ? fmax(r->hi, v) : v;
	r->n++;
}

/* Point i of series s, 1 if it can be drawn. A series without x is at 0, 1, 2... */
static int point(const struct vseries *s, size_t i, int log, double *x, double *y)
{
	*x = s->x ? s->x[i] : (double)i;
	*y = s->y[i];
	return drawable(*x, 0) && drawable(*y, log);
}

/* Series k: a polyline for each run of two or more points, then the markers (left out
 * past 300 points, where they would only blot the line). */
static void draw_series(struct fig *g, size_t k)
{
	const struct vseries *s = &g->c->series[k];
	const char *dash = dashes[k / NPALETTE % NDASHES];
	double x, y, nx, ny;
	size_t i;
	int open = 0;

	fprintf(g->f, "<g stroke=\"%s\" fill=\"%s\">\n", palette[k % NPALETTE],
		palette[k % NPALETTE]);
	for (i = 0; i < s->n && !failed(g); i++) {
		int next = i + 1 < s->n && point(s, i + 1, g->c->log_y, &nx, &ny);

		if (!point(s, i, g->c->log_y, &x, &y))
			continue;
		if (!open && next) {
			fputs("<polyline fill=\"none\" stroke-width=\"2\" "
			      "stroke-linejoin=\"round\"",
			      g->f);
			if (*dash)
				fprintf(g->f, " stroke-dasharray=\"%s\"", dash);
			fputs(" points=\"", g->f);
			open = 1;
		}
		if (open)
			fprintf(g->f, "%s,%s%s", px(xpos(g, x)).s, px(ypos(g, y)).s,
				next ? " " : "\"/>\n");
		open = open && next;
	}
	for (i = 0; i < s->n && !failed(g); i++) {
		int alone = (i == 0 || !point(s, i - 1, g->c->log_y, &nx, &ny)) &&
			    (i + 1 == s->n || !point(s, i + 1, g->c->log_y, &nx, &ny));

		/* a point between two gaps is a marker or nothing */
		if ((s->n <= 300 || alone) && point(s, i, g->c->log_y, &x, &y))
			fprintf(g->f, "<circle cx=\"%s\" cy=\"%s\" r=\"3\" stroke=\"none\"/>\n",
				px(xpos(g, x)).s, px(ypos(g, y)).s);
	}
	fputs("</g>\n", g->f);
}

static int chart_line(struct fig *g)
{
	const struct vchart *c = g->c;
	struct range xr = {0}, yr = {0};
	double x, y;
	size_t k, i;

	for (k = 0; k < c->nseries; k++)
		for (i = 0; i < c->series[k].n; i++)
			if (point(&c->series[k], i, c->log_y, &x, &y)) {
				range_add(&xr, x);
				range_add(&yr, y);
			}
	if (!yr.n)
		return no_data(g);
	if (has_ref(c))
		range_add(&yr, c->ref_y);
	if (c->log_y)
		axis_log(&g->y, yr.lo, yr.hi);
	else
		axis_linear(&g->y, yr.lo, yr.hi, 6);
	layout(g, 52);
	axis_linear(&g->x, xr.lo, xr.hi, 8);
	axis_fit(&g->x, g->right - g->left);

	doc_begin(g);
	draw_title(g);
	draw_y_axis(g);
	draw_x_axis(g);
	draw_frame(g);
	for (k = 0; k < c->nseries && !failed(g); k++)
		draw_series(g, k);
	draw_ref(g);
	legend(g, 1);
	return doc_end(g);
}

/* --- bar charts ------------------------------------------------------------------ */

#define BAR_GAP 2.0
#define GROUP_CHARS 24

/* The distance between the bars of a group, in a group w pixels wide. */
static double bar_pitch(const struct fig *g, double w)
{
	return fmin(w * 0.8 / (double)g->c->nseries, 80);
}

/* The label of bar (i, k): above the bar (below it for a negative value), across the
 * bar when it fits, up along it when not. A value that cannot be drawn is labelled at
 * the base line: its value, or n/a. */
static void bar_label(struct fig *g, double v, double cx, double bw, double base, double top)
{
	const char *attrs = " fill=\"#333\"";
	struct num n = value_label(v);
	int up;

	if (!isfinite(v) || !drawable(v, g->c->log_y)) {
		if (!isfinite(v))
			strcpy(n.s, "n/a");
		attrs = " fill=\"" MUTED "\"";
		top = base;
		v = 1;
	}
	up = text_w(n.s, 10, 48) > bw + BAR_GAP;
	if (up && v >= 0)
		text_up(g, cx + 3.5, top - 4, "start", 10, attrs, n.s, 48);
	else if (up)
		text_up(g, cx + 3.5, top + 4, "end", 10, attrs, n.s, 48);
	else
		text(g, cx, v >= 0 ? top - 4 : top + 12, "middle", 10, attrs, n.s, 48);
}

static void draw_bars(struct fig *g)
{
	const struct vchart *c = g->c;
	double gw = (g->right - g->left) / (double)c->nlabels, pitch = bar_pitch(g, gw);
	double bw = pitch > 3 * BAR_GAP ? pitch - BAR_GAP : pitch * 0.7;
	double base = c->log_y ? g->bottom : ypos(g, 0);
	size_t i, k;

	for (i = 0; i < c->nlabels && !failed(g); i++) {
		double x0 = g->left + gw * (double)i + (gw - pitch * (double)c->nseries) / 2;

		for (k = 0; k < c->nseries; k++) {
			double v = c->series[k].y[i], cx = x0 + pitch * ((double)k + 0.5);
			double y = drawable(v, c->log_y) ? ypos(g, v) : base;

			if (drawable(v, c->log_y))
				fprintf(g->f,
					"<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
					"fill=\"%s\" fill-opacity=\"%s\"/>\n",
					px(cx - bw / 2).s, px(fmin(y, base)).s, px(bw).s,
					px(fmax(fabs(base - y), 0.5)).s, palette[k % NPALETTE],
					k / NPALETTE ? "0.5" : "1");
			bar_label(g, v, cx, bw, base, v < 0 ? fmax(y, base) : fmin(y, base));
		}
	}
}

/* The groups' names under them: level, or slanted when the widest does not fit. */
static int groups_slanted(const struct fig *g, double gw)
{
	const struct vchart *c = g->c;
	double w = 0;
	size_t i;

	for (i = 0; c->labels && i < c->nlabels; i++)
		w = fmax(w, text_w(c->labels[i], 12, GROUP_CHARS));
	return w > gw - 6;
}

/* Slanted names run down to the left of their groups: the plot moves right until the
 * first ones fit in the picture. */
static void fit_slanted(struct fig *g)
{
	const struct vchart *c = g->c;
	size_t i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		double gw = (g->right - g->left) / (double)c->nlabels, need = 0;

		for (i = 0; c->labels && i < c->nlabels; i++)
			need = fmax(need, text_w(c->labels[i], 12, GROUP_CHARS) * 0.87 + 8 -
						  gw * ((double)i + 0.5));
		g->left = fmax(g->left, need);
	}
}

static void draw_groups(struct fig *g, int slant)
{
	const struct vchart *c = g->c;
	double gw = (g->right - g->left) / (double)c->nlabels;
	size_t i, maxch = slant ? GROUP_CHARS : (size_t)fmax(1, (gw - 6) / (12 * EM));
	char attrs[128];

	for (i = 0; c->labels && i < c->nlabels; i++) {
		double x = g->left + gw * ((double)i + 0.5), y = g->bottom + 16;

		if (!slant) {
			text(g, x, y, "middle", 12, "", c->labels[i], maxch);
			continue;
		}
		snprintf(attrs, sizeof attrs, " transform=\"rotate(-30 %s %s)\"", px(x + 4).s,
			 px(y - 6).s);
		text(g, x + 4, y - 6, "end", 12, attrs, c->labels[i], maxch);
	}
	if (c->xlabel)
		text(g, (g->left + g->right) / 2, g->h - 12, "middle", 12, "", c->xlabel,
		     (size_t)((g->w - 20) / (12 * EM)));
}

static int chart_bar(struct fig *g)
{
	const struct vchart *c = g->c;
	struct range yr = {0};
	double gw, head, bottom = 52, widest = 0;
	size_t i, k;
	int slant;

	for (k = 0; k < c->nseries; k++)
		for (i = 0; i < c->nlabels; i++)
			if (drawable(c->series[k].y[i], c->log_y)) {
				range_add(&yr, c->series[k].y[i]);
				widest = fmax(widest,
					      text_w(value_label(c->series[k].y[i]).s, 10, 48));
			}
	if (!yr.n)
		return no_data(g);

	/* Room above the bars for their labels: more when the labels stand up along
	 * bars too narrow for them (the width here is a guess before the layout). */
	gw = (g->w - 100) / (double)c->nlabels;
	head = widest > bar_pitch(g, gw) ? 0.16 : 0.08;
	if (has_ref(c))
		range_add(&yr, c->ref_y);
	if (c->log_y) {
		axis_log(&g->y, yr.lo, yr.hi * pow(10, head * 4));
	} else {
		yr.hi = fmax(0, yr.hi > 0 ? yr.hi * (1 + head) : yr.hi);
		yr.lo = fmin(0, yr.lo < 0 ? yr.lo * (1 + head) : yr.lo);
		axis_linear(&g->y, yr.lo, yr.hi, 6);
	}
	slant = groups_slanted(g, gw);
	if (slant) {
		double lw = 0;

		for (i = 0; c->labels && i < c->nlabels; i++)
			lw = fmax(lw, text_w(c->labels[i], 12, GROUP_CHARS));
		bottom = 52 + lw * 0.5; /* sin 30 degrees */
	}
	layout(g, bottom);
	if (slant)
		fit_slanted(g);

	doc_begin(g);
	draw_title(g);
	draw_y_axis(g);
	draw_groups(g, slant);
	draw_bars(g);
	draw_frame(g);
	draw_ref(g);
	legend(g, 1);
	return doc_end(g);
}

/* --- timelines ------------------------------------------------------------------- */

#define ROW_CHARS 30
#define SPAN_CHARS 40

/* A span that can be drawn, with the index of its row. */
struct item {
	size_t row, idx;
	double a, b;
};

static int item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;

	if (a->row != b->row)
		return a->row < b->row ? -1 : 1;
	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The spans that can be drawn, sorted by row (rows numbered in order of first
 * appearance) then start; *rows gets the rows' names. */
static int timeline_items(const struct vchart *c, struct item **items, size_t *nitems,
			  const char ***rows, size_t *nrows)
{
	size_t i, r, n = 0, nr = 0;
	struct item *it = calloc(c->nspans ? c->nspans : 1, sizeof *it);
	const char **names = calloc(c->nspans ? c->nspans : 1, sizeof *names);

	if (!it || !names) {
		free(it);
		free(names);
		return -ENOMEM;
	}
	for (i = 0; i < c->nspans; i++) {
		const struct vspan *s = &c->spans[i];
		const char *row = s->row ? s->row : "";

		if (!drawable(s->start, 0) || !drawable(s->end, 0))
			continue;
		for (r = 0; r < nr && strcmp(names[r], row) != 0; r++)
			;
		if (r == nr)
			names[nr++] = row;
		it[n++] = (struct item){.row = r,
					.idx = i,
					.a = fmin(s->start, s->end),
					.b = fmax(s->start, s->end)};
	}
	qsort(it, n, sizeof *it, item_cmp);
	*items = it;
	*nitems = n;
	*rows = names;
	*nrows = nr;
	return 0;
}

/* The tooltip of a span or event: its label, start and end. */
static void tooltip(struct fig *g, const struct vspan *s, const struct item *it)
{
	fputs("<title>", g->f);
	if (s->label) {
		put_text(g->f, s->label, 200);
		fputs(": ", g->f);
	}
	if (it->a == it->b)
		fprintf(g->f, "%s", value_label(it->a).s);
	else
		fprintf(g->f, "%s to %s", value_label(it->a).s, value_label(it->b).s);
	fputs("</title>", g->f);
}

/* The spans of row bands rh pixels high: a bar each, its label inside when it fits,
 * else after it when there is room before the next item of the row, else only in the
 * tooltip. */
static void draw_spans(struct fig *g, const struct item *it, size_t n, double rh)
{
	double free_x = 0, bh = fmin(16, rh * 0.45);
	size_t i;

	for (i = 0; i < n && !failed(g); i++) {
		const struct vspan *s = &g->c->spans[it[i].idx];
		double xa = xpos(g, it[i].a), xb = fmax(xpos(g, it[i].b), xa + 1);
		double cy = g->top + rh * ((double)it[i].row + 0.62), w;
		double next =
			i + 1 < n && it[i + 1].row == it[i].row ? xpos(g, it[i + 1].a) : g->w - 4;
		const char *col = row_palette[it[i].row % NROW_PALETTE];

		if (i == 0 || it[i - 1].row != it[i].row)
			free_x = 0;
		if (it[i].a == it[i].b)
			continue;
		fprintf(g->f,
			"<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\" "
			"fill-opacity=\"0.3\" stroke=\"%s\">",
			px(xa).s, px(cy - bh / 2).s, px(xb - xa).s, px(bh).s, col, col);
		tooltip(g, s, &it[i]);
		fputs("</rect>\n", g->f);
		w = text_w(s->label, 10, SPAN_CHARS);
		if (!s->label || !*s->label)
			continue;
		if (xa + 4 >= free_x && w + 8 <= xb - xa) {
			text(g, xa + 4, cy + 3.5, "start", 10, "", s->label, SPAN_CHARS);
			free_x = xa + 4 + w;
		} else if (xb + 4 >= free_x && xb + 4 + w + 4 <= next) {
			text(g, xb + 4, cy + 3.5, "start", 10, "", s->label, SPAN_CHARS);
			free_x = xb + 4 + w;
		}
	}
}

/* The point events: a diamond each, its label above it where it does not run into
 * the previous one (and the rows are tall enough to hold it). */
static void draw_events(struct fig *g, const struct item *it, size_t n, double rh)
{
	double free_x = 0, bh = fmin(16, rh * 0.45);
	size_t i;

	for (i = 0; i < n && !failed(g); i++) {
		const struct vspan *s = &g->c->spans[it[i].idx];
		double x = xpos(g, it[i].a), cy = g->top + rh * ((double)it[i].row + 0.62), w;

		if (i == 0 || it[i - 1].row != it[i].row)
			free_x = 0;
		if (it[i].a != it[i].b)
			continue;
		fprintf(g->f,
			"<path d=\"M%s,%s l5,6 l-5,6 l-5,-6 z\" fill=\"" EVENT_FILL
			"\" stroke=\"" INK "\" stroke-width=\"0.8\">",
			px(x).s, px(cy - 6).s);
		tooltip(g, s, &it[i]);
		fputs("</path>\n", g->f);
		if (!s->label || !*s->label || rh < 30)
			continue;
		w = text_w(s->label, 10, SPAN_CHARS);
		/* kept inside the picture; it is above the row's name, so it may run into
		 * the left margin */
		x = fmin(fmax(x, 4 + w / 2), g->w - 4 - w / 2);
		if (x - w / 2 < free_x)
			continue;
		text(g, x, cy - bh / 2 - 4, "middle", 10, "", s->label, SPAN_CHARS);
		free_x = x + w / 2 + 6;
	}
}

static int chart_timeline(struct fig *g)
{
	const struct vchart *c = g->c;
	struct item *it = NULL;
	const char **rows = NULL;
	struct range xr = {0};
	size_t n = 0, nrows = 0, i;
	double rh, widest = 0;
	int rc = timeline_items(c, &it, &n, &rows, &nrows);

	if (rc)
		return rc;
	if (!n) {
		rc = no_data(g);
		goto out;
	}
	for (i = 0; i < n; i++) {
		range_add(&xr, it[i].a);
		range_add(&xr, it[i].b);
	}
	for (i = 0; i < nrows; i++)
		widest = fmax(widest, text_w(rows[i], 12, ROW_CHARS));
	rh = fmin(fmax(300 / (double)nrows, 22), 44);
	g->left = fmin(fmax(widest + 20, 60), 240);
	g->right = g->w - 30;
	g->top = 48;
	g->bottom = g->top + rh * (double)nrows;
	g->h = g->bottom + 52;
	axis_linear(&g->x, xr.lo, xr.hi, 8);
	axis_fit(&g->x, g->right - g->left);

	doc_begin(g);
	draw_title(g);
	for (i = 1; i < nrows; i += 2)
		fprintf(g->f,
			"<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"#f5f5f5\"/>\n",
			px(g->left).s, px(g->top + rh * (double)i).s, px(g->right - g->left).s,
			px(rh).s);
	draw_x_axis(g);
	for (i = 0; i < nrows; i++)
		text(g, g->left - 8, g->top + rh * ((double)i + 0.62) + 4, "end", 12, "", rows[i],
		     (size_t)((g->left - 12) / (12 * EM)));
	draw_frame(g);
	draw_spans(g, it, n, rh);
	draw_events(g, it, n, rh);
	rc = doc_end(g);
out:
	free(it);
	free(rows);
	return rc;
}

/* --- the chart ------------------------------------------------------------------- */

/* -EINVAL for a chart that cannot be drawn, before anything is written. */
static int check(const struct vchart *c)
{
	size_t k;

	if (c->kind != VCHART_LINE && c->kind != VCHART_BAR && c->kind != VCHART_TIMELINE)
		return -EINVAL;
	if (c->kind == VCHART_TIMELINE)
		return c->nspans && !c->spans ? -EINVAL : 0;
	if (c->nseries && !c->series)
		return -EINVAL;
	for (k = 0; k < c->nseries; k++) {
		if (c->series[k].n && !c->series[k].y)
			return -EINVAL;
		if (c->kind == VCHART_BAR && c->series[k].n != c->nlabels)
			return -EINVAL;
	}
	return 0;
}

int vchart_svg(FILE *f, const struct vchart *c)
{
	struct fig g = {.f = f, .c = c, .w = WIDTH, .h = HEIGHT};
	int rc;

	if (!f || !c)
		return -EINVAL;
	rc = check(c);
	if (rc)
		return rc;
	errno = 0;
	if (c->kind == VCHART_LINE)
		rc = chart_line(&g);
	else if (c->kind == VCHART_BAR)
		rc = chart_bar(&g);
	else
		rc = chart_timeline(&g);
	if (rc)
		return rc;
	if (fflush(f) == EOF && !g.err)
		g.err = errno ? errno : EIO;
	return failed(&g) ? -g.err : 0;
}
