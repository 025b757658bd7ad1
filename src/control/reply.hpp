// What a request handler gives back: the answer now, or work whose result is the answer later.
// Later is for requests that wait on the network (`update`): the endpoint's thread must go on
// serving everyone else meanwhile.
#pragma once

#include "control/protocol.hpp"

#include <functional>
#include <utility>

namespace hotpatch::control {

struct Reply {
  /// The answer, unless `later` is set.
  Response now;
  /// Run on the endpoint's worker thread, one job at a time; what it returns is the answer.
  std::function<Response()> later;

  Reply(Response r) : now(std::move(r)) {}  // NOLINT: an answer now is the common case
  static Reply deferred(std::function<Response()> work) {
    Reply r{Response{}};
    r.later = std::move(work);
    return r;
  }
};

}  // namespace hotpatch::control
