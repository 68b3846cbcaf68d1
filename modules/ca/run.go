package ca

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Defaults of the CA's background check, as istiod's self-signed root
// rotator: an hourly check that warns when less than 20% of the root's
// lifetime remains.
const (
	checkInterval     = time.Hour
	expiryGraceFactor = 0.2
)

// Run is the CA's background work: it keeps the root-expiry metric current
// and warns when the root nears expiry. It returns when ctx is done.
func (c *CA) Run(ctx context.Context) {
	c.log.Info("CA running", zap.String("trustDomain", c.opts.TrustDomain))
	t := time.NewTicker(checkInterval)
	defer t.Stop()
	for {
		c.checkExpiry(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkExpiry records the root expiry and warns inside the grace period.
func (c *CA) checkExpiry(now time.Time) (nearExpiry bool) {
	a := c.state.Load()
	c.metrics.recordExpiry(a)
	if err := a.usableAt(now); err != nil {
		c.log.Error("the CA refuses every request until it is fixed", zap.Error(err))
		return true
	}
	life := a.rootNotAfter.Sub(a.rootNotBefore)
	left := a.rootNotAfter.Sub(now)
	if float64(left) < expiryGraceFactor*float64(life) {
		c.log.Warn("CA root is close to expiry; rotate it",
			zap.Time("notAfter", a.rootNotAfter), zap.Duration("remaining", left))
		return true
	}
	return false
}
