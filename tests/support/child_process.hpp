#pragma once
// Runs the careloop binary as a child process for end-to-end tests.
#include <chrono>
#include <string>
#include <vector>

namespace careloop::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs to completion, feeding `input` on stdin.
RunResult run_command(const std::vector<std::string>& argv, const std::string& input = "",
                      const std::vector<std::string>& extra_env = {});

// A long-running child (careloop serve) whose stderr goes to a file.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& stderr_file);
  ~ChildProcess();  // SIGKILL + reap if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  void signal(int sig);
  // Waits for exit; returns the exit status (128+signal when killed), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // Polls the stderr file until a line contains `needle`; returns that line or "".
  std::string wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  int pid_ = -1;
  bool reaped_ = false;
  std::string stderr_file_;
};

// Starts `careloop --db DB serve --port 0 ...` and returns the port it bound, parsed from its log.
int port_from_serving_line(const std::string& line);

}  // namespace careloop::testing
