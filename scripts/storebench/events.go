package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bounced/bounced/internal/classify"
	"github.com/bounced/bounced/internal/policy"
)

// event is one recipient row to be: an address bounced, was delayed or
// complained about a campaign.
type event struct {
	at   int64 // unix microseconds
	addr int32
	camp int32
	ref  *refusal // nil for a complaint
	kind kind
}

// notice is one message in the bounce mailbox: the events of members
// order[first:first+n], or none for an auto-reply and the like.
type notice struct {
	at    int64 // received, unix microseconds
	first int32
	n     uint16
	kind  noticeKind
	box   uint8
	uid   uint32
}

type noticeKind uint8

const (
	nkBounce noticeKind = iota
	nkDelay
	nkComplaint
	nkAutoReply
	nkDelivered
	nkNotBounce
)

var noticeKindNames = [...]string{"bounce", "delay", "complaint", "auto_reply", "delivered", "not_bounce"}

// data is the whole data set before it is written.
type data struct {
	*world
	events    []event
	addrStart []int32 // the events of address a are events[addrStart[a]:addrStart[a+1]]
	order     []int32 // event indices, the members of each notice together
	notices   []notice
	evNotice  []int32 // the notice (index into notices, id-1) of each event
	evPos     []uint16
	recreated int64 // when the main mailbox got its new UIDVALIDITY
	supp      []suppressionRow
	releases  []releaseRow
}

type suppressionRow struct {
	addr    int32
	verdict policy.Verdict
}

type releaseRow struct {
	addr int32
	at   time.Time
	was  policy.Verdict
}

// makeEvents draws exactly rows events: first those that decide an
// address's fate (its mailbox dying, a full mailbox, a complaint), then
// everyday bounces and delays that say nothing about the address, spread
// over the addresses with a heavy tail (Pareto) so that a few addresses
// bounce at nearly every campaign.
func (w *world) makeEvents(r *rand.Rand, rows int) ([]event, []int32) {
	last := int32(len(w.campaigns))
	fixed := make([][]event, len(w.addrs))
	nFixed := 0
	for ai := range w.addrs {
		a := &w.addrs[ai]
		d := &w.domains[a.domain]
		var evs []event
		add := func(c int32, k kind, ref *refusal) {
			evs = append(evs, event{at: w.eventTime(r, c, k, ref), addr: int32(ai), camp: c, ref: ref, kind: k})
		}
		switch a.fate {
		case dead, domainDead:
			cause := classify.BadAddress
			switch {
			case a.fate == domainDead:
				cause = classify.BadDomain
			case r.IntN(100) < 22:
				cause = classify.MailboxDisabled
			}
			// The sender goes on mailing a dead address for a while:
			// other lists, imports, a slow unsubscribe.
			n := 1
			if r.IntN(100) >= 40 {
				n += int(r.ExpFloat64() * 10)
			}
			for c := max(a.end, 0); c < last && len(evs) < n; c++ {
				if len(evs) > 0 && r.IntN(10) < 4 {
					continue
				}
				ref, _ := pickRefusal(r, cause, false, d.flavor)
				for try := 0; len(evs) == 0 && ref.soft && try < 20; try++ {
					ref, _ = pickRefusal(r, cause, false, d.flavor)
				}
				add(c, kBounce, ref)
			}
		case full:
			c := w.pickCampaign(r, a.born, last)
			for n := 2 + r.IntN(10); n > 0 && c >= 0; n-- {
				delay := r.IntN(4) == 0
				ref, _ := pickRefusal(r, classify.MailboxFull, delay, d.flavor)
				k := kBounce
				if delay {
					k = kDelay
				}
				add(c, k, ref)
				next := w.campaigns[c].at + int64((1+5*r.Float64())*float64(24*time.Hour/time.Microsecond))
				c = w.campaignAfter(next)
			}
		case complainer:
			for n := 1 + r.IntN(7)/6; n > 0; n-- {
				add(w.pickCampaign(r, a.born, a.end), kComplaint, nil)
			}
		}
		fixed[ai] = evs
		nFixed += len(evs)
	}

	// Everyday rows: at least one for a healthy address, the rest by
	// weight (heavy-tailed, times the address's share of the campaigns).
	rest := rows - nFixed
	counts := make([]int, len(w.addrs))
	weights := make([]float64, len(w.addrs))
	var sum float64
	for ai := range w.addrs {
		a := &w.addrs[ai]
		if a.end <= a.born {
			continue
		}
		if a.fate == healthy && rest > 0 {
			counts[ai] = 1
			rest--
		}
		weights[ai] = pareto(r, 1.2, 300) * (w.cum[a.end] - w.cum[a.born]) / w.cum[last]
		sum += weights[ai]
	}
	type frac struct {
		ai int
		f  float64
	}
	fracs := make([]frac, 0, len(w.addrs))
	given := 0
	for ai := range w.addrs {
		if weights[ai] == 0 {
			continue
		}
		x := float64(rest) * weights[ai] / sum
		n := int(math.Floor(x))
		counts[ai] += n
		given += n
		fracs = append(fracs, frac{ai, x - float64(n)})
	}
	slices.SortFunc(fracs, func(a, b frac) int { return -cmpFloat(a.f, b.f) })
	for i := 0; given < rest && len(fracs) > 0; i = (i + 1) % len(fracs) {
		counts[fracs[i].ai]++
		given++
	}

	events := make([]event, 0, rows)
	starts := make([]int32, len(w.addrs)+1)
	for ai := range w.addrs {
		starts[ai] = int32(len(events))
		a := &w.addrs[ai]
		d := &w.domains[a.domain]
		for range counts[ai] {
			c := w.pickCampaign(r, a.born, a.end)
			k, cause := kBounce, bounceMix[d.flavor].pick(r)
			if r.Float64() < delayShare {
				k, cause = kDelay, delayMix.pick(r)
			}
			ref, ok := pickRefusal(r, cause, k == kDelay, d.flavor)
			if !ok {
				ref, _ = pickRefusal(r, classify.Unknown, k == kDelay, d.flavor)
			}
			events = append(events, event{at: w.eventTime(r, c, k, ref), addr: int32(ai), camp: c, ref: ref, kind: k})
		}
		events = append(events, fixed[ai]...)
	}
	starts[len(w.addrs)] = int32(len(events))
	return events, starts
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// eventTime is when a recipient of campaign c bounced: minutes after the
// send for a refusal, hours for a delay warning, five days for a notice
// that gave up retrying, hours to days for a complaint. Never after now.
func (w *world) eventTime(r *rand.Rand, c int32, k kind, ref *refusal) int64 {
	sent := w.campaigns[c].at
	var after time.Duration
	switch {
	case k == kComplaint:
		after = 5*time.Minute + time.Duration(r.ExpFloat64()*float64(12*time.Hour))
	case k == kDelay:
		after = 4*time.Hour + min(time.Duration(r.ExpFloat64()*float64(6*time.Hour)), 68*time.Hour)
	case ref != nil && ref.cause == classify.Expired:
		after = 5*24*time.Hour + time.Duration(r.NormFloat64()*float64(6*time.Hour))
	default:
		after = min(time.Duration(math.Exp(math.Log(90)+1.2*r.NormFloat64())*float64(time.Second)), 48*time.Hour)
	}
	at := sent + int64(after/time.Microsecond)
	if now := w.now.UnixMicro(); at > now-int64(time.Minute/time.Microsecond) {
		// Not arrived yet: it arrives in the last minutes instead.
		at = max(sent+1e6, now-int64(r.IntN(600)+60)*1e6)
	}
	return at
}

// makeNotices groups the events into notices: the failed recipients of
// one domain for one campaign often come back in one notice, as the MTA
// delivered to them in one transaction. A complaint is a notice of its
// own. Auto-replies, delivery reports and stray mail, which have no
// recipient rows, are added. The notices are sorted by arrival and
// their recipients' times brought together.
func (d *data) makeNotices(r *rand.Rand) {
	order := make([]int32, len(d.events))
	for i := range order {
		order[i] = int32(i)
	}
	ev := d.events
	slices.SortFunc(order, func(a, b int32) int {
		x, y := &ev[a], &ev[b]
		switch {
		case x.kind != y.kind:
			return int(x.kind) - int(y.kind)
		case x.camp != y.camp:
			return int(x.camp - y.camp)
		}
		dx, dy := d.addrs[x.addr].domain, d.addrs[y.addr].domain
		if dx != dy {
			return int(dx - dy)
		}
		return cmpInt64(x.at, y.at)
	})
	d.notices = make([]notice, 0, len(d.events)*4/5)
	for i := 0; i < len(order); {
		first := &ev[order[i]]
		size := 1
		if first.kind != kComplaint {
			switch x := r.IntN(100); {
			case x < 70:
			case x < 86:
				size = 2
			case x < 93:
				size = 3
			case x < 97:
				size = 4
			default:
				size = 5 + r.IntN(6)
			}
		}
		j := i + 1
		for ; j < len(order) && j-i < size; j++ {
			e := &ev[order[j]]
			if e.kind != first.kind || e.camp != first.camp || d.addrs[e.addr].domain != d.addrs[first.addr].domain ||
				e.at-first.at > int64(2*time.Hour/time.Microsecond) || sameAddr(ev, order[i:j], e.addr) {
				break
			}
		}
		// One SMTP transaction: the recipients' last attempts seconds apart.
		recv := first.at
		for k := i + 1; k < j; k++ {
			e := &ev[order[k]]
			e.at = min(first.at+int64(r.IntN(5e6)), d.now.UnixMicro())
		}
		for k := i; k < j; k++ {
			recv = max(recv, ev[order[k]].at)
		}
		recv = min(recv+int64(2+r.IntN(90))*1e6, d.now.UnixMicro())
		nk := nkBounce
		switch first.kind {
		case kDelay:
			nk = nkDelay
		case kComplaint:
			nk = nkComplaint
		}
		d.notices = append(d.notices, notice{at: recv, first: int32(i), n: uint16(j - i), kind: nk})
		i = j
	}
	// Mail with no recipient rows: 6% more notices.
	for range len(d.notices) * 6 / 100 {
		c := d.pickCampaign(r, 0, int32(len(d.campaigns)))
		nk := nkAutoReply
		switch x := r.IntN(100); {
		case x < 8:
			nk = nkDelivered
		case x < 33:
			nk = nkNotBounce
		}
		at := min(d.campaigns[c].at+int64(r.ExpFloat64()*float64(3*time.Hour/time.Microsecond)), d.now.UnixMicro())
		d.notices = append(d.notices, notice{at: at, first: -1, kind: nk})
	}
	slices.SortStableFunc(d.notices, func(a, b notice) int { return cmpInt64(a.at, b.at) })
	d.order = order

	// Mailboxes and UIDs: two IMAP accounts, and in the first months an
	// import of an archived mbox. The first account's mailbox was
	// recreated halfway (new UIDVALIDITY, UIDs from 1 again).
	d.evNotice = make([]int32, len(d.events))
	d.evPos = make([]uint16, len(d.events))
	var uids [2]uint32
	recreated := false
	importUntil := d.start.AddDate(0, 4, 0).UnixMicro()
	half := d.start.AddDate(1, 0, 0).UnixMicro()
	for i := range d.notices {
		n := &d.notices[i]
		x := r.IntN(100)
		switch {
		case n.at < importUntil && x < 15:
			n.box = boxImport
		case x < 72:
			n.box = boxMain
		default:
			n.box = boxNews
		}
		if n.box != boxImport {
			if n.box == boxMain && n.at >= half && !recreated {
				uids[boxMain], recreated = 0, true
			}
			uids[n.box]++
			n.uid = uids[n.box]
		}
		for p := range int(n.n) {
			e := order[int(n.first)+p]
			d.evNotice[e] = int32(i)
			d.evPos[e] = uint16(p)
		}
	}
	d.recreated = half
}

func sameAddr(ev []event, members []int32, addr int32) bool {
	for _, m := range members {
		if ev[m].addr == addr {
			return true
		}
	}
	return false
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The mailboxes notices are read from.
const (
	boxMain   = 0
	boxNews   = 1
	boxImport = 2
)

// suppress applies the policy to every address's events, as the store's
// upkeep does: complaints, and failures of the causes the policy counts.
// One percent of the suppressed addresses were released later; bounces
// after the release may suppress them again.
func (d *data) suppress(r *rand.Rand, p policy.Policy) {
	counted := map[classify.Cause]bool{}
	for _, c := range p.Causes() {
		counted[classify.Cause(c)] = true
	}
	var evs []policy.Event
	for ai := range d.addrs {
		evs = evs[:0]
		for i := d.addrStart[ai]; i < d.addrStart[ai+1]; i++ {
			e := &d.events[i]
			switch {
			case e.kind == kComplaint:
				evs = append(evs, policy.Event{Reason: policy.Complaint, At: time.UnixMicro(e.at), Message: int64(d.evNotice[i]) + 1})
			case e.kind == kBounce && counted[e.ref.cause]:
				sev := classify.Hard
				if e.ref.soft {
					sev = classify.Soft
				}
				evs = append(evs, policy.Event{Reason: policy.Reason(e.ref.cause), Severity: sev, At: time.UnixMicro(e.at), Message: int64(d.evNotice[i]) + 1})
			}
		}
		if len(evs) == 0 {
			continue
		}
		v, ok := p.Evaluate(evs, time.Time{})
		if !ok {
			continue
		}
		if r.IntN(100) == 0 {
			rel := v.At.Add(time.Hour + time.Duration(r.Int64N(int64(90*24*time.Hour))))
			if rel.Before(d.now.Add(-time.Hour)) {
				d.releases = append(d.releases, releaseRow{addr: int32(ai), at: rel.Truncate(time.Microsecond), was: v})
				if v, ok = p.Evaluate(evs, rel); !ok {
					continue
				}
			}
		}
		d.supp = append(d.supp, suppressionRow{addr: int32(ai), verdict: v})
	}
}
