package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// printConfig runs `run --print-config` with extra arguments and decodes the settings.
func printConfig(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := azr(t, append([]string{"run", "--print-config"}, args...)...)
	if err != nil {
		t.Fatalf("run --print-config %v: %v", args, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("--print-config printed %q: %v", out, err)
	}
	return m
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileRejectsUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{"misspelled key", "c.json", `{"bogus_key": 3}`, []string{`unknown config key "bogus_key"`}},
		{"typo names the nearest key", "c.json", `{"batch_sise": 2}`, []string{`"batch_sise"`, `did you mean "batch_size"`}},
		{"key in the wrong section", "c.yaml", "lr: 0.001\n", []string{`unknown config key "lr"`, `did you mean "optim.lr"`}},
		{"typo inside a section", "c.yaml", "optim:\n  lora_rnak: 8\n", []string{`"optim.lora_rnak"`, `did you mean "optim.lora_rank"`}},
		{"section given a value", "c.yaml", "optim: 3\n", []string{`"optim" is a section`}},
		{"wrong type names the key", "c.json", `{"batch_size": "many"}`, []string{`key "batch_size": a string is not a valid int`}},
		{"bad duration", "c.yaml", "exec_timeout: soon\n", []string{`exec_timeout`, `not a duration`}},
		{"not a mapping", "c.yaml", "- 1\n- 2\n", []string{"mapping"}},
		{"not YAML", "c.yaml", "a: [1, 2\n", []string{"not YAML or JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.text)
			_, err := azr(t, "run", "--print-config", "--config", path)
			if err == nil {
				t.Fatalf("config %q accepted", tc.text)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigYAMLAndJSONAreEquivalent(t *testing.T) {
	jsonPath := writeFile(t, "c.json", `{
  "batch_size": 3, "template": "chatml", "exec_timeout": "2s", "dedup": true,
  "task_types": ["deduction", "induction"],
  "optim": {"lr": 0.0003, "lora_rank": 4},
  "parse": {"code_fence": "first"}
}`)
	yamlPath := writeFile(t, "c.yaml", `# the same settings as YAML
batch_size: 3
template: chatml
exec_timeout: 2s
dedup: true
task_types: [deduction, induction]
optim:
  lr: 3.0e-4
  lora_rank: 4
parse:
  code_fence: first
`)
	fromJSON, _ := json.Marshal(printConfig(t, "--config", jsonPath))
	fromYAML, _ := json.Marshal(printConfig(t, "--config", yamlPath))
	if string(fromJSON) != string(fromYAML) {
		t.Fatalf("JSON and YAML configs differ:\n%s\n%s", fromJSON, fromYAML)
	}
	defaults, _ := json.Marshal(printConfig(t))
	if string(fromJSON) == string(defaults) {
		t.Fatal("the config file changed nothing")
	}
	m := printConfig(t, "--config", yamlPath)
	optim := m["optim"].(map[string]any)
	if m["batch_size"] != 3.0 || m["exec_timeout"] != "2s" || optim["lr"] != 3e-4 || optim["lora_rank"] != 4.0 ||
		m["parse"].(map[string]any)["code_fence"] != "first" || optim["lora_alpha"] != 32.0 {
		t.Fatalf("settings from YAML: %v", m)
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "c.yaml", "batch_size: 5\nexec_timeout: 2s\noptim: {lr: 0.002}\n")
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		batchSize float64
		timeout   string
		lr        float64
	}{
		{"defaults", nil, nil, 64, "500ms", 1e-5},
		{"config file over defaults", nil, []string{"--config", file}, 5, "2s", 0.002},
		{"environment over config file", map[string]string{"AZR_BATCH_SIZE": "6", "AZR_LR": "0.003"}, []string{"--config", file}, 6, "2s", 0.003},
		{"flag over environment", map[string]string{"AZR_BATCH_SIZE": "6"}, []string{"--config", file, "--batch-size", "7", "--exec-timeout", "3s"}, 7, "3s", 0.002},
		{"config file named by the environment", map[string]string{"AZR_CONFIG": file}, nil, 5, "2s", 0.002},
		{"alias variable", map[string]string{"AZR_EXEC_TIMEOUT": "1s"}, []string{"--config", file}, 5, "1s", 0.002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			m := printConfig(t, tc.args...)
			lr := m["optim"].(map[string]any)["lr"]
			if m["batch_size"] != tc.batchSize || m["exec_timeout"] != tc.timeout || lr != tc.lr {
				t.Errorf("batch_size %v exec_timeout %v lr %v; want %v %v %v", m["batch_size"], m["exec_timeout"], lr, tc.batchSize, tc.timeout, tc.lr)
			}
		})
	}
}

func TestConfigGlobalFlagsAreKeys(t *testing.T) {
	file := writeFile(t, "c.yaml", "seed: 9\nthreads: 3\n")
	m := printConfig(t, "--config", file) // the test harness passes --threads 1 explicitly
	if m["seed"] != 9.0 || m["threads"] != 1.0 {
		t.Errorf("seed %v threads %v, want 9 from the file and 1 from the flag", m["seed"], m["threads"])
	}
	out, err := azr(t, "--seed", "4", "run", "--print-config", "--config", file)
	if err != nil || !strings.Contains(out, `"seed": 4,`) {
		t.Errorf("--seed 4 before run: %v\n%s", err, out)
	}
}

func TestConfigPrintedIsAValidConfig(t *testing.T) {
	first, err := azr(t, "run", "--print-config", "--batch-size", "2", "--uhoh-patterns", `["a{1,2}", "b"]`, "--stop", "x,y")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "config.json", first)
	second, err := azr(t, "run", "--print-config", "--config", path)
	if err != nil {
		t.Fatalf("the printed config is not accepted back: %v", err)
	}
	if first != second {
		t.Fatalf("round trip changed the settings:\n%s\n%s", first, second)
	}
	if !strings.Contains(first, `"a{1,2}"`) || !strings.Contains(first, `"y"`) {
		t.Fatalf("list flags: %s", first)
	}
}

func TestEveryConfigKeyHasHelp(t *testing.T) {
	known := map[string]bool{}
	flags := map[string]string{}
	for _, k := range runKeys {
		known[k.name()] = true
		if configHelp[k.name()] == "" {
			t.Errorf("config key %s has no line in configHelp", k.name())
		}
		if other, dup := flags[k.flag]; dup {
			t.Errorf("keys %s and %s share the flag --%s", other, k.name(), k.flag)
		}
		flags[k.flag] = k.name()
	}
	for key := range configHelp {
		if !known[key] {
			t.Errorf("configHelp has a line for %s, which is no setting", key)
		}
	}
}
