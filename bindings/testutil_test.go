package bindings

import "math"

// logSoftmaxAt returns log softmax(row)[i], computed stably in float64.
func logSoftmaxAt(row []float32, i int32) float64 {
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, float64(x))
	}
	var sum float64
	for _, x := range row {
		sum += math.Exp(float64(x) - mx)
	}
	return float64(row[i]) - mx - math.Log(sum)
}
