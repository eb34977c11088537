package main

// The run command's settings come from four layers, lowest first:
//
//	defaults (rl.DefaultConfig + defaultRunSettings) < --config FILE < AZR_* environment < flags on the command line
//
// Every setting is all three of a config key, a flag and an environment
// variable, derived here from the json tags of runSettings (rl.Config plus
// the engine options), so a new rl.Config field gets its flag and variable
// without further wiring. Its help line comes from configHelp.

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/azr-native/azr-native/internal/cluster"
	"github.com/azr-native/azr-native/rl"
	"github.com/azr-native/azr-native/sandbox"
	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"
)

// runSettings is everything `run` can be told: the self-play config and the
// engine options. Its JSON form is the config file's and config.json's.
type runSettings struct {
	rl.Config
	Model     string `json:"model"`      // base GGUF model
	Out       string `json:"out"`        // run directory
	Threads   int    `json:"threads"`    // CPU threads (engine and sandbox pool)
	Ctx       int    `json:"ctx"`        // KV cache cells shared by a generation batch
	Slots     int    `json:"slots"`      // sequences decoded together
	GPULayers int    `json:"gpu_layers"` // layers offloaded to a GPU
	// SandboxIsolation is what to do when this machine cannot set up a
	// sandbox layer: strict (refuse) or best-effort. A property of the
	// machine, not of the run, so it lives here and not in rl.Config: a
	// resumed run takes it as given, like the engine options.
	SandboxIsolation string `json:"sandbox_isolation"`
	// EvalData lists TASK=FILE benchmark files evaluated during training
	// (eval_cmd.go); like the engine options it is taken as given on resume.
	EvalData []string `json:"eval_data"`
	// SeedFile lists JSONL files of seed tasks (the reference's seed layout)
	// that replace the seeding phase of a new run.
	SeedFile []string `json:"seed_file"`
	// Cluster settings (docs/CLUSTER.md): where generation and sandbox
	// work goes. Like the engine options they are taken as given on resume.
	Cluster        bool          `json:"cluster"`
	NatsListen     string        `json:"nats_listen"`
	Nats           string        `json:"nats"`
	NatsCreds      string        `json:"nats_creds"`
	NatsTLSCA      string        `json:"nats_tls_ca"`
	NatsTLSCert    string        `json:"nats_tls_cert"`
	NatsTLSKey     string        `json:"nats_tls_key"`
	ClusterAckWait time.Duration `json:"cluster_ack_wait"`

	given map[string]bool // keys set by the config file, the environment or a flag
}

// Validate checks the self-play config and the engine options.
func (s *runSettings) Validate() error {
	var errs []error
	if err := s.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.Threads < 1 {
		errs = append(errs, fmt.Errorf("threads must be >= 1, got %d", s.Threads))
	}
	if s.Ctx < 1 {
		errs = append(errs, fmt.Errorf("ctx must be >= 1, got %d", s.Ctx))
	}
	if s.Slots < 1 {
		errs = append(errs, fmt.Errorf("slots must be >= 1, got %d", s.Slots))
	}
	if _, err := sandbox.ParseIsolation(s.SandboxIsolation); err != nil {
		errs = append(errs, err)
	}
	if s.Cluster && s.Nats != "" {
		errs = append(errs, fmt.Errorf("cluster starts a NATS server and nats joins one: give only one of them"))
	}
	if s.ClusterAckWait <= 0 {
		errs = append(errs, fmt.Errorf("cluster_ack_wait must be > 0, got %v", s.ClusterAckWait))
	}
	return errors.Join(errs...)
}

// defaultRunSettings owns the engine options' defaults; rl.DefaultConfig owns the rest.
func defaultRunSettings() runSettings {
	return runSettings{Config: rl.DefaultConfig(), Threads: defaultThreads(), Ctx: 32768, Slots: 16, GPULayers: -1,
		SandboxIsolation: string(sandbox.IsolationStrict), NatsListen: cluster.DefaultListen, ClusterAckWait: cluster.DefaultAckWait}
}

// configKey describes one leaf setting.
type configKey struct {
	path   []string     // json names from the root, e.g. [optim lr]
	typ    reflect.Type // the field's Go type
	flag   string       // flag name (without dashes)
	global bool         // the flag is a global one (before the subcommand)
}

func (k configKey) name() string { return strings.Join(k.path, ".") }

// configHelp is the one table of help lines, by config key. Every key has a
// line (TestEveryConfigKeyHasHelp): add one with each new rl.Config field.
var configHelp = map[string]string{
	"model":             "base GGUF model `FILE` (qwen2/qwen3); empty: the built-in nano coder base",
	"out":               "run `DIR` (checkpoints, metrics); an existing run is resumed",
	"threads":           "CPU threads for the engine and the sandbox pool",
	"ctx":               "KV cache cells shared by a generation batch",
	"slots":             "sequences decoded together",
	"samples_per_batch": "responses per (task type x role) batch and step written to samples.jsonl for reports; 0 = none",
	"gpu_layers":        "layers to offload to a GPU when one is present (azr-native devices); -1 = all, 0 = none; generation and training both run where the layers are",
	"seed_file":         "JSONL `FILE`s of seed tasks in the reference's layout (*_seed_io.jsonl triplets, *_code_f_seed_io.jsonl induction tasks): a new run starts from them instead of a seeding phase",
	"sandbox_isolation": "when a sandbox isolation layer cannot be set up on this machine: strict (refuse to run, naming the layer and the fix) or best-effort (run anyway, with a warning)",
	"cluster":           "start a NATS JetStream server in this process and send generation and sandbox work to workers (azr-native worker; docs/CLUSTER.md)",
	"nats_listen":       "HOST:PORT the --cluster server listens on (loopback unless told otherwise)",
	"nats":              "`URL` of an existing NATS server or cluster with JetStream to send generation and sandbox work through, instead of --cluster",
	"nats_creds":        "NATS credentials `FILE` for --nats",
	"nats_tls_ca":       "CA certificate `FILE` to verify the NATS server with",
	"nats_tls_cert":     "client certificate `FILE` for NATS TLS (with nats_tls_key)",
	"nats_tls_key":      "client key `FILE` for NATS TLS",
	"cluster_ack_wait":  "a request a worker holds this long without a sign of life goes to another worker",
	"eval_data":         "evaluate the live adapter on TASK=`FILE` (task: output, input, induction or function; see azr-native eval --help), a FILE named deduction/abduction/induction/humaneval.jsonl, or a DIR of them, before training, every eval_every steps and at the end; repeatable",

	"seed":                            "random seed: the same seed and inputs give the same results on CPU",
	"task_types":                      "task types to propose and solve (abduction, deduction, induction)",
	"batch_size":                      "prompts per (task type x role) batch",
	"steps":                           "total self-play steps of the run",
	"save_every":                      "checkpoint every N steps",
	"eval_every":                      "evaluate on --eval-data every N steps (0: only before training and at the end)",
	"temperature":                     "sampling temperature of proposer and solver",
	"top_p":                           "nucleus sampling threshold (1 = off)",
	"top_k":                           "top-k sampling (-1 = off)",
	"max_prompt_length":               "longest prompt in tokens",
	"max_response_length":             "tokens per response",
	"content_max_length":              "proposer prompts longer than this many tokens are redrawn",
	"stop":                            "extra stop strings of every generation",
	"prompt_redraw_tries":             "redraws of an over-long proposer prompt",
	"learnability_greedy":             "greedy learnability rollouts (the reference master branch's choice)",
	"n_samples":                       "solver rollouts per valid proposal (learnability)",
	"trivial_reward":                  "proposer reward of a valid task always or never solved (paper formula: 0)",
	"references":                      "reference triplets shown to the proposer (K)",
	"num_inputs":                      "inputs of an induction task (half shown, half hidden)",
	"banned_modules":                  "module and call names a proposed program may not use",
	"template":                        "prompt format: r1 (base models) or chatml (instruct models)",
	"swap_difficulty":                 "swap the judging criteria of the prompts (reproduces the reference's swap)",
	"prompt_style":                    "prompt wording: full (the reference's content) or compact (terse, for small-context models)",
	"induction_program_from_both":     "induction programs come from the abduction and deduction buffers (false: deduction only)",
	"parse.code_fence":                "which code block is the program: python (first python/unlabelled block) or first (any language)",
	"parse.reject_multiple_functions": "reject proposals defining more than one function",
	"parse.count_nested_functions":    "nested defs and methods count against the one-function rule",
	"parse.f_replace_location":        "which def is renamed to f when none is called f: not_first or any_last",
	"parse.reference_rename":          "also rename obj.NAME( method calls (the reference's regex)",
	"parse.strip_quotes":              "strip quote characters from both ends of a generation before parsing",
	"parse.solver_fallbacks":          "where a solver answer without its output/input fence is taken from: reference (the reference's full list of fallbacks) or strict",
	"max_programs":                    "programs kept per task buffer",
	"eviction":                        "buffer eviction when full: oldest, uniform or drop_new",
	"dedup":                           "drop duplicate tasks from the buffers",
	"keep_thoughts":                   "keep the proposer's <think> text in buffer entries",
	"ref_strategy":                    "how references are drawn: uniform or step",
	"pred_mix":                        "solver batch mix: max_new (recent tasks first) or uniform",
	"past_epoch_window":               "tasks added at steps >= t - N count as recent",
	"solve_fresh":                     "solver batches are built after the step's proposals",
	"seed_batch_factor":               "seeding target = batch-size x this many valid tasks; 0 starts from the zero triplet",
	"seed_max_rounds":                 "give up seeding after this many proposer batches",
	"seed_patience":                   "stop seeding after this many rounds without a new task (an error when nothing was found; 0 = never)",
	"advantage":                       "advantage estimator: task_relative, global, per_prompt or grpo",
	"rollout_n":                       "samples per trained prompt",
	"train_propose":                   "train on the proposer batches (false: solver only)",
	"adv_eps":                         "epsilon of the advantage whitening",
	"exec_timeout":                    "wall-clock limit of one program run in the sandbox",
	"exec_parallelism":                "concurrent sandbox executions",
	"exec_retries":                    "retries of a sandbox (not program) failure",
	"keep_checkpoints":                "checkpoints kept, newest first (0 = all)",
	"optim.lr":                        "AdamW learning rate of the LoRA adapter",
	"optim.warmup_steps":              "linear warm-up steps, then cosine decay (0 = constant rate)",
	"optim.weight_decay":              "AdamW weight decay",
	"optim.beta1":                     "AdamW beta1",
	"optim.beta2":                     "AdamW beta2",
	"optim.eps":                       "AdamW epsilon",
	"optim.grad_clip":                 "global gradient-norm clip (<= 0 = off)",
	"optim.clip_ratio_low":            "PPO ratio clip below 1 (ratio >= 1 - this)",
	"optim.clip_ratio_high":           "PPO ratio clip above 1 (ratio <= 1 + this)",
	"optim.entropy_coeff":             "entropy bonus coefficient (0 = off)",
	"optim.kl_coeff":                  "KL penalty coefficient (must be 0)",
	"optim.ppo_epochs":                "updates per step (must be 1)",
	"optim.micro_batch":               "sequences per forward/backward graph at most",
	"optim.loss_agg_mode":             "loss aggregation over tokens",
	"optim.old_logprobs":              "old log-probs of the PPO ratio: train (the training forward's own, detached: ratio 1, as the reference) or sampler (the sampler's; measures the inference/training gap as clip_frac)",
	"optim.lora_rank":                 "LoRA rank",
	"optim.lora_alpha":                "LoRA alpha (scale = alpha / rank)",
	"uhoh_patterns":                   "regular expressions flagged in any response (uhoh.jsonl)",
}

// flagRenames keeps established flag names whose key is spelled differently;
// the key-derived name stays an alias.
var flagRenames = map[string]string{"seed_batch_factor": "seed-factor"}

// globalFlagKeys are keys whose flag is a global one (azr-native --seed N run ...).
var globalFlagKeys = map[string]bool{"seed": true, "threads": true}

// flagShort are one-letter aliases.
var flagShort = map[string]string{"model": "m", "out": "o"}

var runKeys = collectKeys(reflect.TypeFor[runSettings]())

// collectKeys lists the leaf settings of a struct type in field order,
// flattening embedded structs and naming flags after the leaf key, or
// parent-leaf where two leaves share a name.
func collectKeys(t reflect.Type) []configKey {
	var keys []configKey
	var walk func(t reflect.Type, prefix []string)
	walk = func(t reflect.Type, prefix []string) {
		for _, f := range structFields(t) {
			path := append(append([]string(nil), prefix...), f.name)
			if f.typ.Kind() == reflect.Struct && f.typ != reflect.TypeFor[time.Duration]() {
				walk(f.typ, path)
				continue
			}
			keys = append(keys, configKey{path: path, typ: f.typ})
		}
	}
	walk(t, nil)
	leaves := map[string]int{}
	for _, k := range keys {
		leaves[k.path[len(k.path)-1]]++
	}
	for i := range keys {
		k := &keys[i]
		leaf := k.path[len(k.path)-1]
		name := leaf
		if leaves[leaf] > 1 {
			name = strings.Join(k.path, "_")
		}
		k.flag = strings.ReplaceAll(name, "_", "-")
		if r, ok := flagRenames[k.name()]; ok {
			k.flag = r
		}
		k.global = globalFlagKeys[k.name()]
	}
	return keys
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// structFields lists the JSON-visible fields of a struct type, with those of
// untagged embedded structs promoted (as encoding/json does).
func structFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, structFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

// runFlags returns one flag per setting (except the global ones), with its
// AZR_* variable and the default from defaultRunSettings.
func runFlags() []cli.Flag {
	d := defaultRunSettings()
	defaults, err := settingsMap(d)
	if err != nil {
		panic(err) // the defaults always marshal
	}
	var flags []cli.Flag
	for _, k := range runKeys {
		if k.global {
			continue
		}
		help := configHelp[k.name()]
		if help == "" {
			help = "config key " + k.name()
		}
		help += " (config key " + k.name() + ")"
		names := []string{k.flag}
		if derived := strings.ReplaceAll(k.path[len(k.path)-1], "_", "-"); derived != k.flag {
			names = append(names, derived)
		}
		var aliases []string
		if s, ok := flagShort[k.name()]; ok {
			aliases = append(aliases, s)
		}
		aliases = append(aliases, names[1:]...)
		var env []string
		for _, n := range names {
			env = append(env, envVar(n)...)
		}
		def := lookupPath(defaults, k.path)
		flags = append(flags, settingFlag(k, help, aliases, env, def))
	}
	return flags
}

// settingFlag makes the flag of one key, typed where urfave/cli has the type.
func settingFlag(k configKey, help string, aliases, env []string, def any) cli.Flag {
	switch {
	case k.typ == durationType:
		v, _ := time.ParseDuration(fmt.Sprint(def))
		return &cli.DurationFlag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: v}
	case k.typ.Kind() == reflect.Bool:
		b, _ := def.(bool)
		return &cli.BoolFlag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: b}
	case k.typ.Kind() == reflect.String:
		s, _ := def.(string)
		return &cli.StringFlag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: s}
	case k.typ.Kind() == reflect.Slice:
		// Repeatable; each value may also be comma-separated or a YAML list
		// (flagValue joins the pieces back before reading them).
		f := &cli.StringSliceFlag{Name: k.flag, Aliases: aliases, Usage: help + "; repeat the flag, separate with commas, or give a YAML list [a, b]", EnvVars: env, DefaultText: formatList(def)}
		if len(f.DefaultText) > 60 {
			f.DefaultText = "see --print-config"
		}
		return f
	case k.typ.Kind() >= reflect.Int && k.typ.Kind() <= reflect.Int64:
		n, _ := def.(float64)
		return &cli.IntFlag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: int(n)}
	case k.typ.Kind() >= reflect.Uint && k.typ.Kind() <= reflect.Uint64:
		n, _ := def.(float64)
		return &cli.Uint64Flag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: uint64(n)}
	case k.typ.Kind() == reflect.Float32 || k.typ.Kind() == reflect.Float64:
		f, _ := def.(float64)
		return &cli.Float64Flag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: f}
	default: // numbers and anything else: the text is read as a YAML value
		return &cli.StringFlag{Name: k.flag, Aliases: aliases, Usage: help, EnvVars: env, Value: formatScalar(def)}
	}
}

// formatList shows a default list as the flag's text: comma-separated, or
// as a YAML list when an item holds a comma.
func formatList(v any) string {
	list, _ := v.([]any)
	items := make([]string, len(list))
	for i, x := range list {
		items[i] = fmt.Sprint(x)
		if strings.Contains(items[i], ",") {
			b, _ := json.Marshal(list)
			return string(b)
		}
	}
	return strings.Join(items, ",")
}

func formatScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// resolveRunSettings builds the effective settings: defaults, then the
// --config file, then every flag set in the environment or on the command
// line (urfave/cli gives a command-line flag precedence over its variable).
func resolveRunSettings(c *cli.Context) (runSettings, error) {
	s := defaultRunSettings()
	s.given = map[string]bool{}
	if path := c.String("config"); path != "" {
		patch, err := readConfigFile(path)
		if err != nil {
			return s, err
		}
		if err := applyPatch(&s, patch); err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		for _, k := range runKeys {
			if lookupPath(patch, k.path) != nil {
				s.given[k.name()] = true
			}
		}
	}
	patch := map[string]any{}
	for _, k := range runKeys {
		if !c.IsSet(k.flag) {
			continue
		}
		v, err := flagValue(c, k)
		if err != nil {
			return s, err
		}
		setPath(patch, k.path, v)
		s.given[k.name()] = true
	}
	if err := applyPatch(&s, patch); err != nil {
		return s, err
	}
	return s, nil
}

// flagValue converts a set flag to the JSON value of its key.
func flagValue(c *cli.Context, k configKey) (any, error) {
	switch {
	case k.typ == durationType:
		return c.Duration(k.flag).String(), nil
	case k.typ.Kind() == reflect.Bool:
		return c.Bool(k.flag), nil
	case k.typ.Kind() == reflect.String:
		return c.String(k.flag), nil
	case k.typ.Kind() >= reflect.Int && k.typ.Kind() <= reflect.Int64:
		return c.Int(k.flag), nil
	case k.typ.Kind() >= reflect.Uint && k.typ.Kind() <= reflect.Uint64:
		return c.Uint64(k.flag), nil
	case k.typ.Kind() == reflect.Float32 || k.typ.Kind() == reflect.Float64:
		return c.Float64(k.flag), nil
	case k.typ.Kind() == reflect.Slice:
		// The slice flag split every value at commas; joined back, one
		// value reads as it was given and repeated ones as a comma list.
		text := strings.TrimSpace(strings.Join(c.StringSlice(k.flag), ","))
		var items []string
		if strings.HasPrefix(text, "[") {
			if err := yaml.Unmarshal([]byte(text), &items); err != nil {
				return nil, fmt.Errorf("--%s: %q is not a YAML list of strings: %w", k.flag, text, err)
			}
		} else if text != "" {
			for _, item := range strings.Split(text, ",") {
				items = append(items, strings.TrimSpace(item))
			}
		}
		out := []any{}
		for _, item := range items {
			v, err := scalarValue(k.typ.Elem(), item)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", k.flag, err)
			}
			out = append(out, v)
		}
		return out, nil
	default:
		v, err := scalarValue(k.typ, c.String(k.flag))
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", k.flag, err)
		}
		return v, nil
	}
}

// scalarValue reads the text of one flag value as the JSON value of type t.
func scalarValue(t reflect.Type, text string) (any, error) {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) || t.Kind() == reflect.String {
		return text, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if _, err := strconv.ParseInt(text, 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not an integer", text)
		}
		return json.Number(text), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(text, 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not a non-negative integer", text)
		}
		return json.Number(text), nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return f, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return b, nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("%q: %w", text, err)
	}
	return v, nil
}

// readConfigFile reads a YAML or JSON config (JSON is YAML, so one parser
// reads both) and rejects keys that are not settings, naming the nearest one.
func readConfigFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not YAML or JSON: %w", path, err)
	}
	if doc == nil {
		return map[string]any{}, nil
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the config must be a mapping of keys to values, not a %T", path, doc)
	}
	if err := checkKeys(m, reflect.TypeFor[runSettings](), nil); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// checkKeys reports the first key of m (in sorted order) that is not a
// field of struct type t, recursing into nested sections.
func checkKeys(m map[string]any, t reflect.Type, prefix []string) error {
	fields := map[string]reflect.Type{}
	for _, f := range structFields(t) {
		fields[f.name] = f.typ
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := append(append([]string(nil), prefix...), name)
		ft, ok := fields[name]
		if !ok {
			msg := fmt.Sprintf("unknown config key %q", strings.Join(path, "."))
			if near := nearestKey(strings.Join(path, ".")); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			return fmt.Errorf("%s", msg)
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			sub, ok := m[name].(map[string]any)
			if !ok {
				return fmt.Errorf("config key %q is a section: give it keys, not %v", strings.Join(path, "."), m[name])
			}
			if err := checkKeys(sub, ft, path); err != nil {
				return err
			}
		}
	}
	return nil
}

// nearestKey returns the setting closest to a misspelled dotted key: the
// same name in another section, else the key or leaf name at the smallest
// edit distance, if that is small enough to be a typo ("" otherwise).
func nearestKey(key string) string {
	leaf := key[strings.LastIndex(key, ".")+1:]
	for _, k := range runKeys {
		if k.path[len(k.path)-1] == leaf {
			return k.name()
		}
	}
	best, bestD := "", max(2, len(leaf)/3)+1
	for _, k := range runKeys {
		d := min(editDistance(key, k.name()), editDistance(leaf, k.path[len(k.path)-1]))
		if d < bestD {
			best, bestD = k.name(), d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyPatch overlays a (checked) map of settings onto s. Sections merge
// key by key; lists replace; durations may be written as "10s" or as
// nanoseconds (how Go encodes them, e.g. in a checkpoint's state.json).
func applyPatch(s *runSettings, patch map[string]any) error {
	if err := normalizeDurations(patch, reflect.TypeFor[runSettings]()); err != nil {
		return err
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return describeJSONError(err)
	}
	return nil
}

// describeJSONError names the key of a type mismatch in the config's terms.
func describeJSONError(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		// Fields of the embedded rl.Config carry its type name in the path.
		return fmt.Errorf("key %q: a %s is not a valid %s", strings.TrimPrefix(te.Field, "Config."), te.Value, te.Type)
	}
	return err
}

func normalizeDurations(m map[string]any, t reflect.Type) error {
	fields := map[string]reflect.Type{}
	for _, f := range structFields(t) {
		fields[f.name] = f.typ
	}
	for name, v := range m {
		ft := fields[name]
		switch {
		case ft == durationType:
			if s, ok := v.(string); ok {
				d, err := time.ParseDuration(s)
				if err != nil {
					return fmt.Errorf("config key %q: %q is not a duration such as 500ms or 10s", name, s)
				}
				m[name] = int64(d)
			}
		case ft != nil && ft.Kind() == reflect.Struct:
			if sub, ok := v.(map[string]any); ok {
				if err := normalizeDurations(sub, ft); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// settingsMap is s as a map of JSON values, durations written as text
// ("500ms"), the form of config.json and --print-config.
func settingsMap(s runSettings) (map[string]any, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	for _, k := range runKeys {
		if k.typ != durationType {
			continue
		}
		if ns, ok := lookupPath(m, k.path).(float64); ok {
			setPath(m, k.path, time.Duration(ns).String())
		}
	}
	return m, nil
}

// encodeSettings is the effective settings as indented JSON.
func encodeSettings(s runSettings) ([]byte, error) {
	m, err := settingsMap(s)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

func lookupPath(m map[string]any, path []string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}
