// End to end, as an operator sees it: the hotpatch tool and a preloaded target timed as whole
// processes (wall from fork to reap, CPU from the kernel's accounting of the reaped child), and
// what the preloaded runtime costs a small C process (RSS, shared objects mapped).
//   hp_bench_e2e HOTPATCH LIBHOTPATCH TARGET PATCH OUT.json [RUNS]
// Prints its table section on stdout (goals met or missed) and writes the figures as JSON.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Env = std::map<std::string, std::string>;

struct Run {
  double wall_ms = 0;
  double cpu_ms = 0;
  int status = -1;
};

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> environment_with(const Env& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (extra.count(kv.substr(0, kv.find('='))) == 0) env.push_back(kv);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

// Starts argv with `extra` in its environment; stdout to `out_file` (or /dev/null).
pid_t start(std::vector<std::string> argv, const Env& extra, const std::string& out_file = "/dev/null") {
  auto env = environment_with(extra);
  auto a = c_strings(argv);
  auto e = c_strings(env);
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::fopen(out_file.c_str(), "w");
    if (f != nullptr) {
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
    }
    ::execve(a[0], a.data(), e.data());
    _exit(127);
  }
  return pid;
}

// The last timed command's output, shown when it fails.
std::string g_last_output = "/dev/null";

Run timed(std::vector<std::string> argv, const Env& extra = {}) {
  Run r;
  const auto t0 = Clock::now();
  pid_t pid = start(std::move(argv), extra, g_last_output);
  struct rusage ru {};
  ::wait4(pid, &r.status, 0, &ru);
  r.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  r.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  return r;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool wait_for(const std::string& file, const std::string& text) {
  for (int i = 0; i < 5000; ++i) {
    if (read_text(file).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

struct Stats {
  double min = 0, median = 0;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v.front(), v[v.size() / 2]};
}

struct Series {
  std::vector<double> wall, cpu;
  void add(const Run& r) {
    wall.push_back(r.wall_ms);
    cpu.push_back(r.cpu_ms);
  }
};

long rss_kb(pid_t pid) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::set<std::string> shared_objects(pid_t pid) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/maps"));
  std::set<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (path.find(".so") != std::string::npos) out.insert(path);
  }
  return out;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string ms(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f ms", v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: hp_bench_e2e HOTPATCH LIBHOTPATCH TARGET PATCH OUT.json [RUNS]\n";
    return 2;
  }
  const std::string cli = argv[1], runtime = argv[2], target = argv[3], patch = argv[4], out_json = argv[5];
  const int runs = argc > 6 ? std::max(5, std::atoi(argv[6])) : 30;
  char dir_template[] = "/tmp/hp-bench-e2e-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const Env control{{"LD_PRELOAD", runtime},
                    {"HOTPATCH_CONTROL", "1"},
                    {"HOTPATCH_CONTROL_DIR", dir + "/sockets"},
                    {"HOTPATCH_ALLOW_UNSIGNED", "1"},
                    {"HOTPATCH_LOG", "off"}};
  const Env cli_env{{"HOTPATCH_CONTROL_DIR", dir + "/sockets"}};
  g_last_output = dir + "/last.out";
  nlohmann::json j;

  // The tool starting, next to the smallest program there is.
  Series version, truth;
  for (int i = 0; i < runs; ++i) {
    version.add(timed({cli, "--version"}));
    truth.add(timed({"/bin/true"}));
  }

  // Ready once it has printed so and, when preloaded, its endpoint listens (the runtime starts it
  // beside the program, not before main).
  auto start_target = [&](const Env& env, const std::string& out) {
    pid_t pid = start({target}, env, out);
    const std::string socket = dir + "/sockets/" + std::to_string(pid) + ".sock";
    bool ready = wait_for(out, "ready\n");
    for (int i = 0; ready && env.count("HOTPATCH_CONTROL") && ::access(socket.c_str(), F_OK) != 0; ++i) {
      if (i == 5000) ready = false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!ready) {
      kill_and_reap(pid);
      std::cerr << "the target did not start: " << read_text(out) << "\n";
      std::exit(1);
    }
    return pid;
  };
  auto apply = [&](pid_t pid) { return timed({cli, "apply", "--pid", std::to_string(pid), "--allow-unsigned", patch}, cli_env); };
  auto revert = [&](pid_t pid) { return timed({cli, "revert", "--pid", std::to_string(pid), "e2e-answer"}, cli_env); };
  pid_t current = -1;
  auto must = [&current](const Run& r, const char* what) {
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
      std::cerr << what << " failed (status " << r.status << "): " << read_text(g_last_output) << "\n";
      if (current > 0) kill_and_reap(current);
      std::exit(1);
    }
    return r;
  };

  // Warm: the same process, the patch object already loaded once.
  Series warm_apply, warm_revert;
  {
    pid_t pid = start_target(control, dir + "/warm.out");
    current = pid;
    must(apply(pid), "first apply");
    must(revert(pid), "first revert");
    for (int i = 0; i < runs; ++i) {
      warm_apply.add(must(apply(pid), "apply"));
      warm_revert.add(must(revert(pid), "revert"));
    }
    kill_and_reap(pid);
  }
  // Cold: the first apply into a fresh process (a real dlopen of the patch).
  Series cold_apply;
  for (int i = 0; i < runs; ++i) {
    pid_t pid = start_target(control, dir + "/cold.out");
    current = pid;
    cold_apply.add(must(apply(pid), "first apply"));
    kill_and_reap(pid);
  }
  // What preloading costs a small C process at rest.
  long rss_plain = 0, rss_preloaded = 0;
  std::size_t objects_plain = 0, objects_preloaded = 0;
  {
    pid_t plain = start_target({}, dir + "/plain.out");
    pid_t preloaded = start_target(control, dir + "/preloaded.out");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    rss_plain = rss_kb(plain);
    rss_preloaded = rss_kb(preloaded);
    objects_plain = shared_objects(plain).size();
    auto preloaded_objects = shared_objects(preloaded);
    objects_preloaded = preloaded_objects.size();
    j["preloaded_objects"] = preloaded_objects;
    kill_and_reap(plain);
    kill_and_reap(preloaded);
  }
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::cerr << "could not remove " << dir << "\n";

  auto put = [&](const char* name, const Series& s) {
    auto w = stats(s.wall), c = stats(s.cpu);
    j[name] = {{"wall_min_ms", w.min}, {"wall_median_ms", w.median}, {"cpu_min_ms", c.min}, {"cpu_median_ms", c.median}};
    return std::make_pair(w, c);
  };
  auto [version_wall, version_cpu] = put("cli_version", version);
  auto [true_wall, true_cpu] = put("bin_true", truth);
  auto [warm_wall, warm_cpu] = put("apply_warm", warm_apply);
  auto [revert_wall, revert_cpu] = put("revert_warm", warm_revert);
  auto [cold_wall, cold_cpu] = put("apply_cold", cold_apply);
  const double rss_added_mb = (rss_preloaded - rss_plain) / 1024.0;
  j["runs"] = runs;
  j["rss_plain_kb"] = rss_plain;
  j["rss_preloaded_kb"] = rss_preloaded;
  j["objects_plain"] = objects_plain;
  j["objects_preloaded"] = objects_preloaded;
  std::ofstream(out_json) << j.dump(2) << "\n";

  auto verdict = [](bool met) { return met ? "met" : "MISSED"; };
  std::cout << "\n### End to end (" << runs << " runs each; min / median)\n\n"
            << "| what | wall | CPU | goal |\n|---|---|---|---|\n"
            << "| `hotpatch --version` | " << ms(version_wall.min) << " / " << ms(version_wall.median) << " | "
            << ms(version_cpu.min) << " / " << ms(version_cpu.median) << " | CPU ≤ 1.2 ms: "
            << verdict(version_cpu.median <= 1.2) << " |\n"
            << "| `/bin/true` (yardstick) | " << ms(true_wall.min) << " / " << ms(true_wall.median) << " | "
            << ms(true_cpu.min) << " / " << ms(true_cpu.median) << " | |\n"
            << "| `hotpatch apply --pid`, warm | " << ms(warm_wall.min) << " / " << ms(warm_wall.median) << " | "
            << ms(warm_cpu.min) << " / " << ms(warm_cpu.median) << " | wall ≤ 1.3 ms: " << verdict(warm_wall.median <= 1.3)
            << " |\n"
            << "| `hotpatch revert --pid`, warm | " << ms(revert_wall.min) << " / " << ms(revert_wall.median) << " | "
            << ms(revert_cpu.min) << " / " << ms(revert_cpu.median) << " | |\n"
            << "| first apply into a fresh process | " << ms(cold_wall.min) << " / " << ms(cold_wall.median) << " | "
            << ms(cold_cpu.min) << " / " << ms(cold_cpu.median) << " | wall ≤ 2 ms: " << verdict(cold_wall.median <= 2.0)
            << " |\n"
            << "\n| preloading the runtime into a small C process | without | with | goal |\n|---|---|---|---|\n"
            << "| RSS | " << rss_plain << " kB | " << rss_preloaded << " kB (+" << rss_added_mb << " MB) | ≤ +1.5 MB: "
            << verdict(rss_added_mb <= 1.5) << " |\n"
            << "| shared objects mapped | " << objects_plain << " | " << objects_preloaded << " | |\n";
  return 0;
}
