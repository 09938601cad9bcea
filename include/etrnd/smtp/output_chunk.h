// A piece of bytes for the client to send: either owned (command lines) or
// borrowed (a view into a message body the caller keeps alive, or a static
// literal). Lets large bodies go to the socket without being copied.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace etrnd::smtp {

class OutputChunk {
 public:
  static OutputChunk Owned(std::string bytes) {
    OutputChunk chunk;
    chunk.owned_ = std::move(bytes);
    return chunk;
  }
  // `bytes` must outlive every use of the chunk.
  static OutputChunk Borrowed(std::string_view bytes) {
    OutputChunk chunk;
    chunk.borrowed_ = bytes;
    chunk.is_borrowed_ = true;
    return chunk;
  }

  std::string_view bytes() const { return is_borrowed_ ? borrowed_ : std::string_view(owned_); }
  bool is_borrowed() const { return is_borrowed_; }

 private:
  std::string owned_;
  std::string_view borrowed_;
  bool is_borrowed_ = false;
};

// Concatenation of the chunks (a copy: for tests and small writes).
std::string JoinChunks(const std::vector<OutputChunk>& chunks);

// Appends `body` as DATA content: dot-stuffed (RFC 5321 4.5.2: a line that
// starts with '.' gets one more), then the terminating ".\r\n" (and a CRLF
// before it when the body does not end with one). Without copying the body:
// the chunks borrow from it. A line starts after every LF, bare or not, so
// no receiver can see an unstuffed "<LF>.<LF>" (no SMTP smuggling).
void AppendDotStuffed(std::string_view body, std::vector<OutputChunk>* out);

}  // namespace etrnd::smtp
