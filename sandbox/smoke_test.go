package sandbox

import (
	"context"
	"testing"

	"go.uber.org/zap"
)

func TestSmoke(t *testing.T) {
	l, _ := zap.NewDevelopment()
	p, err := New(context.Background(), Config{Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, ly := range p.Layers() {
		t.Logf("%+v", ly)
	}
	r, err := p.Run(context.Background(), "def f(x):\n    return x+1", "1")
	t.Logf("%+v %v", r, err)
	v, err := p.Validate(context.Background(), "def f(x):\n    return x+1", []string{"1", "2"})
	t.Logf("%+v %v", v, err)
}
