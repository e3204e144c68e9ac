package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// The synthetic world: the domains mail goes to, the addresses on the
// lists, and the campaigns sent to them. Everything is drawn from one seed.

// flavor is the kind of mail system a domain runs: it decides the text of
// its refusals and the mix of its causes.
type flavor uint8

const (
	flGmail     flavor = iota // Gmail and Google Workspace
	flMicrosoft               // Outlook.com and Microsoft 365
	flYahoo                   // Yahoo and AOL
	flBig                     // other large providers
	flTail                    // a company's or a small provider's own server
)

type domain struct {
	name   string
	mx     string // the remote MTA
	flavor flavor
	// dead domains stop resolving at campaign deadAt: every address on
	// them bounces with bad_domain from then on.
	dead   bool
	deadAt int32
}

// fate is what happens to an address over the two years.
type fate uint8

const (
	healthy    fate = iota // only bounces that say nothing about it
	dead                   // the mailbox goes away (bad_address, mailbox_disabled)
	domainDead             // its domain goes away (bad_domain)
	full                   // a run of mailbox_full bounces
	complainer             // reports a campaign as spam
)

type address struct {
	email  string
	domain int32
	fate   fate
	// born and end bound the campaigns the address is mailed normally,
	// [born, end); a dead address dies at end.
	born, end int32
}

type campaign struct {
	at     int64 // unix microseconds
	list   uint8
	weight float64
}

type world struct {
	seed       uint64
	start, now time.Time
	domains    []domain
	addrs      []address
	campaigns  []campaign
	cum        []float64 // cumulative campaign weights, len(campaigns)+1
}

var bigDomains = []struct {
	name   string
	share  float64 // percent of addresses
	flavor flavor
	mx     string
}{
	{"gmail.com", 27, flGmail, "gmail-smtp-in.l.google.com"},
	{"googlemail.com", 0.5, flGmail, "gmail-smtp-in.l.google.com"},
	{"yahoo.com", 6.5, flYahoo, "mta7.am0.yahoodns.net"},
	{"ymail.com", 0.3, flYahoo, "mta5.am0.yahoodns.net"},
	{"aol.com", 2, flYahoo, "mx-aol.mail.gm0.yahoodns.net"},
	{"hotmail.com", 6, flMicrosoft, "hotmail-com.olc.protection.outlook.com"},
	{"outlook.com", 4, flMicrosoft, "outlook-com.olc.protection.outlook.com"},
	{"live.com", 1.5, flMicrosoft, "live-com.olc.protection.outlook.com"},
	{"msn.com", 0.7, flMicrosoft, "msn-com.olc.protection.outlook.com"},
	{"icloud.com", 3, flBig, "mx01.mail.icloud.com"},
	{"me.com", 0.8, flBig, "mx02.mail.icloud.com"},
	{"gmx.de", 1.5, flBig, "mx00.emig.gmx.net"},
	{"gmx.net", 0.8, flBig, "mx01.emig.gmx.net"},
	{"web.de", 1.5, flBig, "mx-ha03.web.de"},
	{"t-online.de", 0.8, flBig, "mx00.t-online.de"},
	{"orange.fr", 1.2, flBig, "smtp-in.orange.fr"},
	{"free.fr", 0.6, flBig, "mx1.free.fr"},
	{"wanadoo.fr", 0.4, flBig, "smtp-in.orange.fr"},
	{"laposte.net", 0.3, flBig, "smtpz4.laposte.net"},
	{"sfr.fr", 0.3, flBig, "mx.sfr.fr"},
	{"libero.it", 0.5, flBig, "smtp-in.libero.it"},
	{"virgilio.it", 0.3, flBig, "mx.virgilio.it"},
	{"btinternet.com", 0.5, flBig, "mx.bt.lon5.cpcloud.co.uk"},
	{"comcast.net", 1, flBig, "mx1a1.comcast.net"},
	{"verizon.net", 0.4, flYahoo, "mx-aol.mail.gm0.yahoodns.net"},
	{"att.net", 0.5, flYahoo, "ff-ip4-mx-vip1.prodigy.net"},
	{"sbcglobal.net", 0.4, flYahoo, "ff-ip4-mx-vip2.prodigy.net"},
	{"mail.ru", 1, flBig, "mxs.mail.ru"},
	{"yandex.ru", 0.8, flBig, "mx.yandex.ru"},
	{"qq.com", 0.6, flBig, "mx3.qq.com"},
	{"163.com", 0.3, flBig, "163mx01.mxmail.netease.com"},
	{"naver.com", 0.2, flBig, "mx1.naver.com"},
	{"rediffmail.com", 0.2, flBig, "mx.rediffmail.rediff.akadns.net"},
	{"bigpond.com", 0.2, flBig, "extmail.bigpond.com"},
	{"shaw.ca", 0.2, flBig, "mx.shaw.ca"},
	{"seznam.cz", 0.3, flBig, "mx1.seznam.cz"},
	{"wp.pl", 0.3, flBig, "mx.wp.pl"},
	{"o2.pl", 0.2, flBig, "mx.o2.pl"},
	{"ziggo.nl", 0.3, flBig, "mx.ziggo.nl"},
	{"telenet.be", 0.2, flBig, "mx.telenet.be"},
	{"bluewin.ch", 0.2, flBig, "mxbw.bluewin.ch"},
	{"protonmail.com", 0.3, flBig, "mail.protonmail.ch"},
}

// tailShare is the percent of addresses on the long tail of domains.
const tailShare = 30

var (
	tailHeads = strings.Fields(`acme alpine amber anchor apex arbor atlas aurora azure beacon birch bright
		cedar cobalt coral crest delta ember evergreen falcon fern harbor hazel horizon indigo iron juniper
		keystone lake laurel linden lumen maple marble meadow meridian nimbus north oak onyx orchid pacific
		pine pioneer prairie quartz raven ridge river rowan sage sierra silver slate spruce stone summit
		sun terra tidal timber trail union valley vertex willow zenith nordic baltic celtic metro civic`)
	tailTails = strings.Fields(`tech works media group labs systems solutions partners consulting design
		studio health care legal finance capital logistics foods farms energy motors realty homes travel
		tours school college academy clinic dental law press books games software digital network net cloud
		data analytics marketing ventures trading supply print events sports fitness club society church
		foundation council institute`)
	tlds = []struct {
		tld string
		w   float64
	}{{"com", 45}, {"net", 6}, {"org", 7}, {"de", 8}, {"fr", 5}, {"co.uk", 6}, {"nl", 3}, {"it", 3},
		{"es", 3}, {"edu", 3}, {"io", 2}, {"ca", 2}, {"com.au", 2}, {"be", 1}, {"ch", 1}, {"se", 1},
		{"pl", 1}, {"at", 1}}
	firstNames = strings.Fields(`james mary john patricia robert jennifer michael linda william elizabeth
		david barbara richard susan joseph jessica thomas sarah charles karen chris nancy daniel lisa
		matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna
		joshua michelle kenneth carol kevin amanda brian melissa george deborah timothy stephanie ronald
		rebecca jason laura edward sharon jeffrey cynthia ryan kathleen jacob amy gary angela nicholas
		anna eric ruth jonathan brenda stephen pamela larry nicole justin katherine scott samantha brandon
		christine benjamin emma samuel catherine gregory debra frank virginia alexander rachel raymond
		carolyn patrick janet jack maria dennis heather jerry diane tyler julie aaron joyce jose victoria
		lukas lena felix hannah jonas lea paul mia leon sophie luca marie hugo chloe louis camille pierre
		manon giulia marco sofia alessandro francesca pablo lucia javier carmen pieter sanne daan emma
		olga ivan anya dmitri wei li yuki hiro priya arjun fatima omar`)
	lastNames = strings.Fields(`smith johnson williams brown jones garcia miller davis rodriguez martinez
		hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white
		harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill
		flores green adams nelson baker hall rivera campbell mitchell carter roberts muller schmidt schneider
		fischer weber meyer wagner becker schulz hoffmann martin bernard dubois thomas robert richard petit
		durand leroy moreau rossi russo ferrari esposito bianchi romano colombo ricci devries jansen bakker
		visser smit meijer kowalski nowak wisniewski ivanov smirnov kuznetsov popov wang zhang liu chen
		yang tanaka suzuki sato kim park choi patel shah singh kumar khan ali hassan obrien murphy kelly`)
	roles = strings.Fields(`info contact sales office admin hello support billing accounts team jobs
		newsletter marketing events reception`)
)

// newWorld draws the domains, addresses and campaigns of seed: domains with
// a skewed share of nAddrs addresses, campaigns over the two years to now.
func newWorld(seed uint64, nAddrs int, now time.Time) *world {
	w := &world{seed: seed, now: now, start: now.AddDate(-2, 0, 0)}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	w.makeCampaigns(r)
	w.makeDomains(r)
	w.makeAddresses(r, nAddrs)
	return w
}

// makeCampaigns schedules three sends every weekday and one on weekend
// days, growing from half to one and a half times the volume over the two
// years, each of its own size.
func (w *world) makeCampaigns(r *rand.Rand) {
	day := time.Date(w.start.Year(), w.start.Month(), w.start.Day(), 0, 0, 0, 0, time.UTC)
	span := w.now.Sub(w.start).Seconds()
	for ; day.Before(w.now); day = day.AddDate(0, 0, 1) {
		hours := []float64{8, 12.5, 17}
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			hours = []float64{10}
		}
		for i, h := range hours {
			at := day.Add(time.Duration((h + r.NormFloat64()*0.3) * float64(time.Hour)))
			if at.Before(w.start) || !at.Before(w.now) {
				continue
			}
			growth := 0.5 + at.Sub(w.start).Seconds()/span
			w.campaigns = append(w.campaigns, campaign{at: at.UnixMicro(), list: uint8(i), weight: growth * (0.5 + r.Float64())})
		}
	}
	w.cum = make([]float64, len(w.campaigns)+1)
	for i, c := range w.campaigns {
		w.cum[i+1] = w.cum[i] + c.weight
	}
}

// pickCampaign draws a campaign of [lo, hi) by weight.
func (w *world) pickCampaign(r *rand.Rand, lo, hi int32) int32 {
	if hi <= lo+1 {
		return lo
	}
	x := w.cum[lo] + r.Float64()*(w.cum[hi]-w.cum[lo])
	i := int32(sort.SearchFloat64s(w.cum[lo+1:hi+1], x)) + lo
	return min(i, hi-1)
}

// campaignAfter gives the first campaign at or after t, or -1.
func (w *world) campaignAfter(t int64) int32 {
	i, _ := slices.BinarySearchFunc(w.campaigns, t, func(c campaign, t int64) int {
		switch {
		case c.at < t:
			return -1
		case c.at > t:
			return 1
		}
		return 0
	})
	if i >= len(w.campaigns) {
		return -1
	}
	return int32(i)
}

// makeDomains lists the big providers and a long tail of 20,000 domains
// whose shares follow Zipf's law. A tail domain's mail is handled by
// Microsoft 365, Google Workspace or its own server; some tail domains
// expire over the two years.
func (w *world) makeDomains(r *rand.Rand) {
	for _, d := range bigDomains {
		w.domains = append(w.domains, domain{name: d.name, mx: d.mx, flavor: d.flavor})
	}
	seen := map[string]bool{}
	var tldSum float64
	for _, t := range tlds {
		tldSum += t.w
	}
	for len(w.domains) < len(bigDomains)+20000 {
		x := r.Float64() * tldSum
		tld := tlds[len(tlds)-1].tld
		for _, t := range tlds {
			if x -= t.w; x < 0 {
				tld = t.tld
				break
			}
		}
		name := tailHeads[r.IntN(len(tailHeads))]
		switch r.IntN(4) {
		case 0:
			name += tailTails[r.IntN(len(tailTails))]
		case 1:
			name += "-" + tailTails[r.IntN(len(tailTails))]
		case 2:
			name += tailTails[r.IntN(len(tailTails))] + fmt.Sprint(r.IntN(100))
		default:
			name += "-" + tailHeads[r.IntN(len(tailHeads))] + "-" + tailTails[r.IntN(len(tailTails))]
		}
		name += "." + tld
		if seen[name] {
			continue
		}
		seen[name] = true
		d := domain{name: name, flavor: flTail}
		switch x := r.IntN(100); {
		case x < 30:
			d.flavor, d.mx = flMicrosoft, strings.NewReplacer(".", "-").Replace(name)+".mail.protection.outlook.com"
		case x < 52:
			d.flavor, d.mx = flGmail, "aspmx.l.google.com"
		case x < 75:
			d.mx = "mx1." + name
		default:
			d.mx = "mail." + name
		}
		if r.IntN(100) < 4 {
			d.dead = true
			d.deadAt = int32(r.IntN(len(w.campaigns)))
		}
		w.domains = append(w.domains, d)
	}
}

// makeAddresses draws n distinct addresses, their domains and fates.
func (w *world) makeAddresses(r *rand.Rand, n int) {
	// Domain weights: the big ones by share, the tail by Zipf's law.
	nBig := len(bigDomains)
	cum := make([]float64, len(w.domains)+1)
	var tailH float64
	for i := range len(w.domains) - nBig {
		tailH += 1 / float64(i+3)
	}
	for i := range w.domains {
		var wt float64
		if i < nBig {
			wt = bigDomains[i].share
		} else {
			wt = tailShare / tailH / float64(i-nBig+3)
		}
		cum[i+1] = cum[i] + wt
	}
	seen := make(map[string]bool, n)
	w.addrs = make([]address, 0, n)
	last := int32(len(w.campaigns))
	for len(w.addrs) < n {
		x := r.Float64() * cum[len(cum)-1]
		di := int32(sort.SearchFloat64s(cum[1:], x))
		di = min(di, int32(len(w.domains)-1))
		d := &w.domains[di]
		email := localPart(r, d.flavor == flTail) + "@" + d.name
		if seen[email] {
			continue
		}
		seen[email] = true
		a := address{email: email, domain: di, end: last}
		if r.IntN(100) >= 55 {
			a.born = int32(r.IntN(len(w.campaigns)))
		}
		switch x := r.IntN(1000); {
		case d.dead && d.deadAt > a.born:
			a.fate, a.end = domainDead, min(d.deadAt+int32(r.IntN(4)), last-1)
		case d.dead:
			// Joined after the domain died: bounces from the start.
			a.fate, a.end = domainDead, a.born
		case x < 320:
			a.fate = dead
			a.end = a.born + int32(r.IntN(int(last-a.born)))
		case x < 400:
			a.fate = full
		case x < 450:
			a.fate = complainer
		}
		w.addrs = append(w.addrs, a)
	}
}

// localPart draws the part before the @ as people and companies choose
// them.
func localPart(r *rand.Rand, company bool) string {
	f, l := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	switch x := r.IntN(100); {
	case company && x < 8:
		return roles[r.IntN(len(roles))]
	case x < 38:
		return f + "." + l
	case x < 48:
		return f + l
	case x < 58:
		return f[:1] + "." + l
	case x < 63:
		return f + "_" + l
	case x < 80:
		return f + fmt.Sprint(r.IntN(3000))
	case x < 85:
		return l + "." + f
	case x < 90:
		return f[:1] + l + fmt.Sprint(r.IntN(100))
	default:
		return l + f[:1] + fmt.Sprint(1950+r.IntN(60))
	}
}

// pareto draws from a Pareto distribution of shape alpha and minimum 1,
// capped at limit.
func pareto(r *rand.Rand, alpha, limit float64) float64 {
	return min(math.Pow(1-r.Float64(), -1/alpha), limit)
}
