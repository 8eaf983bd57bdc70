/**
 * A radix tree from literal string prefixes to sorted lists of rule ordinals.
 * `collect(s)` gathers the lists stored at every prefix of `s` in one walk
 * along `s`, so a lookup costs O(length of the matching prefix), whatever the
 * number of rules. Used for the literal path prefix of path patterns (before
 * the first wildcard) and, on reversed strings, for wildcard host suffixes.
 */

interface Edge {
  label: string;
  node: TrieNode;
}

class TrieNode {
  items: number[] = [];
  readonly edges = new Map<number, Edge>();
}

export class PrefixTrie {
  private readonly root = new TrieNode();
  private empty = true;

  insert(key: string, item: number): void {
    this.empty = false;
    let node = this.root;
    let i = 0;
    while (i < key.length) {
      const edge = node.edges.get(key.charCodeAt(i));
      if (!edge) {
        const leaf = new TrieNode();
        node.edges.set(key.charCodeAt(i), { label: key.slice(i), node: leaf });
        node = leaf;
        break;
      }
      let j = 0;
      while (j < edge.label.length && i + j < key.length && edge.label.charCodeAt(j) === key.charCodeAt(i + j)) j++;
      if (j < edge.label.length) {
        // Split the edge at the first difference.
        const mid = new TrieNode();
        mid.edges.set(edge.label.charCodeAt(j), { label: edge.label.slice(j), node: edge.node });
        edge.label = edge.label.slice(0, j);
        edge.node = mid;
      }
      node = edge.node;
      i += j;
    }
    // Lists stay sorted and free of duplicates (a rule whose values share a prefix is stored once).
    const items = node.items;
    if (!items.includes(item)) {
      items.push(item);
      items.sort((a, b) => a - b);
    }
  }

  get isEmpty(): boolean {
    return this.empty;
  }

  /**
   * For a trie of reversed keys: push the lists stored at each suffix of `s`,
   * walking `s` from its end (no reversed copy of `s` is built per request).
   */
  collectFromEnd(s: string, out: (readonly number[])[]): void {
    let node = this.root;
    let pos = s.length;
    for (;;) {
      if (node.items.length) out.push(node.items);
      if (pos === 0) return;
      const edge = node.edges.get(s.charCodeAt(pos - 1));
      if (!edge) return;
      const label = edge.label;
      if (label.length > pos) return;
      for (let j = 1; j < label.length; j++) if (s.charCodeAt(pos - 1 - j) !== label.charCodeAt(j)) return;
      node = edge.node;
      pos -= label.length;
    }
  }

  /** Push the non-empty lists stored at each prefix of `s` (shortest first). */
  collect(s: string, out: (readonly number[])[]): void {
    let node = this.root;
    let i = 0;
    for (;;) {
      if (node.items.length) out.push(node.items);
      if (i >= s.length) return;
      const edge = node.edges.get(s.charCodeAt(i));
      if (!edge || !s.startsWith(edge.label, i)) return;
      node = edge.node;
      i += edge.label.length;
    }
  }
}
