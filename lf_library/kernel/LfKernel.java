package ai.labellake.lf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The text LFs of a pack evaluated in one pass over a row's text: returns the
 * vote codes of the conditions that hold (each condition carries the code of
 * the vote it casts, see {@code lf_library/text_kernel.py}), or null when
 * none does, so a row without votes allocates nothing.
 *
 * <p>Why it exists: Spark evaluates each compiled text LF on its own. Its
 * {@code contains} walks the UTF-8 bytes one call at a time per keyword, each
 * {@code rlike} decodes the row to a Java string again, and {@code lower}
 * takes a slow path on any non-ASCII text. Here the text is decoded and
 * lowercased once, every keyword and every literal a regex requires is found
 * in one pass over it ({@link LiteralScanner}, an Aho-Corasick automaton: one
 * table step per character however many literals), words are counted in a
 * loop that stops early, and a regex runs, on the already-decoded string, only
 * where its required literals occur.
 *
 * <p>The semantics are those of {@code lf_library/compile.py} (Python's):
 * {@code lower} is Unicode full lowercase ({@link Locale#ROOT}), a word is a
 * run of characters outside Python's {@code str.isspace()} set, regexes are
 * the Java translations compile.py makes of Python's. A null text satisfies
 * no condition.
 *
 * <p>One instance per pack: the spec (JSON, built by text_kernel.py) is a
 * field, shipped to the executors with the UDF, and parsed once per executor
 * JVM. (Passing it as a literal argument instead cost a decode, a hash and an
 * equals of the whole spec per row: 11 kB for 73 regexes.)
 */
public final class LfKernel implements UDF1<String, int[]> {
    private static final long serialVersionUID = 2L;
    private static final ConcurrentHashMap<String, Compiled> SPECS = new ConcurrentHashMap<>();
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String spec;
    private transient Compiled compiled;

    public LfKernel(String spec) {
        this.spec = spec;
        parse(spec); // fail on the driver, at registration, not in a task
    }

    /** One text LF's condition and the vote code it emits when it holds. */
    abstract static class Condition {
        final int code;

        Condition(JsonNode spec) {
            code = spec.get("code").asInt();
        }

        /** Whether the condition holds; {@code found} says which scanned literals occur in the row. */
        abstract boolean test(String text, Lowered lowered, Found found);
    }

    /** A row's text lowercased on first use (Unicode full lowercase, as Python's {@code str.lower}). */
    static final class Lowered {
        private final String text;
        private String value;

        Lowered(String text) {
            this.text = text;
        }

        String get() {
            if (value == null) {
                value = text.toLowerCase(Locale.ROOT);
            }
            return value;
        }
    }

    /** The literals conditions look for, in the lowercased text and in the text as it is. */
    static final class Literals {
        final Map<String, Integer> lower = new LinkedHashMap<>();
        final Map<String, Integer> exact = new LinkedHashMap<>();

        /** Ids of {@code words} among the literals of the lowercased text ({@code lowered}) or the text. */
        int[] ids(JsonNode words, boolean lowered) {
            Map<String, Integer> in = lowered ? lower : exact;
            int[] ids = new int[words.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = in.computeIfAbsent(words.get(i).asText(), w -> in.size()) * 2 + (lowered ? 1 : 0);
            }
            return ids;
        }
    }

    /** Which literals occur in one row; an id's low bit says which text it was looked for in. */
    static final class Found {
        final boolean[] lower;
        final boolean[] exact;

        Found(boolean[] lower, boolean[] exact) {
            this.lower = lower;
            this.exact = exact;
        }

        boolean any(int[] ids) {
            for (int id : ids) {
                if (((id & 1) == 1 ? lower : exact)[id >> 1]) {
                    return true;
                }
            }
            return false;
        }
    }

    static final class Keywords extends Condition {
        final int[] keywords;
        final Pattern word;
        final boolean lower;

        Keywords(JsonNode spec, Literals literals) {
            super(spec);
            lower = spec.get("lower").asBoolean();
            keywords = literals.ids(spec.get("keywords"), lower);
            word = spec.hasNonNull("word_regex") ? Pattern.compile(spec.get("word_regex").asText()) : null;
        }

        @Override
        boolean test(String text, Lowered lowered, Found found) {
            return found.any(keywords) && (word == null || word.matcher(lower ? lowered.get() : text).find());
        }
    }

    static final class Regex extends Condition {
        final boolean lowerTarget;
        final int[][] literalSets;
        final Pattern pattern;
        final String[] anchors; // null: try the regex at every start
        final int minBefore; // characters (code points) between a match's start and its anchor
        final int maxBefore;

        Regex(JsonNode spec, Literals literals) {
            super(spec);
            lowerTarget = spec.get("lower").asBoolean();
            boolean lowerLiterals = spec.get("literals_lower").asBoolean();
            JsonNode sets = spec.get("literals");
            literalSets = new int[sets.size()][];
            for (int i = 0; i < sets.size(); i++) {
                literalSets[i] = literals.ids(sets.get(i), lowerLiterals);
            }
            pattern = Pattern.compile(spec.get("pattern").asText());
            JsonNode anchor = spec.get("anchor");
            if (anchor != null && !anchor.isNull()) {
                List<String> strings = new ArrayList<>();
                anchor.get("strings").forEach(a -> strings.add(a.asText()));
                anchors = strings.toArray(new String[0]);
                minBefore = anchor.get("low").asInt();
                maxBefore = anchor.get("high").asInt();
            } else {
                anchors = null;
                minBefore = 0;
                maxBefore = 0;
            }
        }

        @Override
        boolean test(String text, Lowered lowered, Found found) {
            for (int[] alternatives : literalSets) {
                if (!found.any(alternatives)) {
                    return false;
                }
            }
            String target = lowerTarget ? lowered.get() : text;
            return anchors == null ? pattern.matcher(target).find() : findAtAnchors(target);
        }

        /**
         * {@code find()} tried only where a match can start: {@code minBefore..maxBefore} characters
         * (code points, one or two UTF-16 units each) before an occurrence of an anchor string (the
         * literals that follow the pattern's bounded-width start, lf_library/compile.py
         * literal_anchor), each start once, in order. Bounds are transparent and not anchoring, so
         * {@code ^}, {@code \b} and lookarounds see the whole text, as in find().
         */
        private boolean findAtAnchors(String target) {
            int[] starts = new int[8];
            int count = 0;
            for (String anchor : anchors) {
                int covered = -1; // the previous occurrence added every start from its lowest up to here
                for (int p = target.indexOf(anchor); p >= 0; p = target.indexOf(anchor, p + 1)) {
                    int s = p;
                    int highest = -1;
                    for (int before = 0; before <= maxBefore && s > covered; before++) {
                        if (before >= minBefore) {
                            if (count == starts.length) {
                                starts = Arrays.copyOf(starts, 2 * count);
                            }
                            starts[count++] = s;
                            highest = Math.max(highest, s);
                        }
                        if (s == 0) {
                            break;
                        }
                        s = previousCharacter(target, s);
                    }
                    covered = Math.max(covered, highest);
                }
            }
            if (count == 0) {
                return false;
            }
            Arrays.sort(starts, 0, count);
            Matcher matcher = pattern.matcher(target).useTransparentBounds(true).useAnchoringBounds(false);
            int n = target.length();
            for (int i = 0; i < count; i++) {
                if ((i == 0 || starts[i] != starts[i - 1]) && matcher.region(starts[i], n).lookingAt()) {
                    return true;
                }
            }
            return false;
        }

        /** Where the character (code point) before index {@code s > 0} starts: a surrogate pair is one. */
        private static int previousCharacter(String text, int s) {
            boolean pair = s >= 2 && Character.isLowSurrogate(text.charAt(s - 1))
                    && Character.isHighSurrogate(text.charAt(s - 2));
            return pair ? s - 2 : s - 1;
        }
    }

    static final class WordCount extends Condition {
        final int min;
        final int max;

        WordCount(JsonNode spec) {
            super(spec);
            min = spec.hasNonNull("min") ? spec.get("min").asInt() : -1;
            max = spec.hasNonNull("max") ? spec.get("max").asInt() : -1;
        }

        static boolean isPySpace(int c) {
            // str.isspace(): Unicode White_Space plus the separators U+001C..U+001F.
            return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
        }

        static int countWords(String text, int limit) {
            int words = 0;
            boolean inWord = false;
            for (int i = 0; i < text.length(); ) {
                int c = text.codePointAt(i);
                i += Character.charCount(c);
                if (isPySpace(c)) {
                    inWord = false;
                } else if (!inWord) {
                    inWord = true;
                    if (++words >= limit) {
                        return words;
                    }
                }
            }
            return words;
        }

        @Override
        boolean test(String text, Lowered lowered, Found found) {
            int limit = Math.max(min, max);
            int words = countWords(text, limit <= 0 ? Integer.MAX_VALUE : limit);
            return (min < 0 || words >= min) && (max < 0 || words < max);
        }
    }

    /** A spec's conditions and the scanners that find their literals. */
    static final class Compiled {
        final Condition[] conditions;
        final LiteralScanner lower;
        final LiteralScanner exact;

        Compiled(Condition[] conditions, Literals literals) {
            this.conditions = conditions;
            this.lower = new LiteralScanner(new ArrayList<>(literals.lower.keySet()));
            this.exact = new LiteralScanner(new ArrayList<>(literals.exact.keySet()));
        }
    }

    static Compiled parse(String spec) {
        try {
            JsonNode root = JSON.readTree(spec);
            Literals literals = new Literals();
            Condition[] conditions = new Condition[root.size()];
            for (int i = 0; i < root.size(); i++) {
                JsonNode c = root.get(i);
                switch (c.get("kind").asText()) {
                    case "keywords": conditions[i] = new Keywords(c, literals); break;
                    case "regex": conditions[i] = new Regex(c, literals); break;
                    case "words": conditions[i] = new WordCount(c); break;
                    default: throw new IllegalArgumentException("unknown condition kind " + c.get("kind"));
                }
            }
            return new Compiled(conditions, literals);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("labellake LF kernel: bad spec: " + e.getMessage(), e);
        }
    }

    @Override
    public int[] call(String text) {
        if (text == null) {
            return null;
        }
        if (compiled == null) {
            compiled = SPECS.computeIfAbsent(spec, LfKernel::parse);
        }
        Lowered lowered = new Lowered(text);
        boolean[] inLower = compiled.lower.isEmpty() ? null : compiled.lower.scan(lowered.get());
        Found found = new Found(inLower, compiled.exact.isEmpty() ? null : compiled.exact.scan(text));
        Condition[] conditions = compiled.conditions;
        int[] fired = null;
        int n = 0;
        for (Condition condition : conditions) {
            if (condition.test(text, lowered, found)) {
                if (fired == null) {
                    fired = new int[conditions.length];
                }
                fired[n++] = condition.code;
            }
        }
        return fired == null ? null : Arrays.copyOf(fired, n);
    }

    /**
     * Which of a fixed set of literals occur in a string, in one pass (Aho-Corasick): a
     * deterministic automaton over the characters the literals use, each state listing the
     * literals that end there, so a scan is one table step per character. The result is
     * {@code text.indexOf(literal) >= 0} for every literal (UTF-16 units, as indexOf).
     */
    static final class LiteralScanner {
        /** Up to this many literals, one {@code indexOf} each beats the automaton: the JIT's
         * intrinsic compares many characters per step, the automaton one (docs/decisions/0018). */
        static final int FEW = 16;
        private final int size;
        private final String[] few; // the literals when there are at most FEW, else null
        private final char[] classOf = new char[Character.MAX_VALUE + 1]; // 0: in no literal
        private final int width;
        private final int[] next; // state * width + class -> state
        private final int[][] ends; // state -> the literals that end there (null: none)

        LiteralScanner(List<String> literals) {
            size = literals.size();
            few = size <= FEW ? literals.toArray(new String[0]) : null;
            int classes = 1;
            for (String literal : literals) {
                for (char c : literal.toCharArray()) {
                    if (classOf[c] == 0) {
                        classOf[c] = (char) classes++;
                    }
                }
            }
            width = classes;
            List<int[]> trie = new ArrayList<>();
            List<List<Integer>> endings = new ArrayList<>();
            trie.add(newState());
            endings.add(new ArrayList<>());
            for (int id = 0; id < size; id++) {
                int state = 0;
                for (char c : literals.get(id).toCharArray()) {
                    if (trie.get(state)[classOf[c]] < 0) {
                        trie.get(state)[classOf[c]] = trie.size();
                        trie.add(newState());
                        endings.add(new ArrayList<>());
                    }
                    state = trie.get(state)[classOf[c]];
                }
                endings.get(state).add(id);
            }
            next = new int[trie.size() * width];
            ends = new int[trie.size()][];
            link(trie, endings);
        }

        private int[] newState() {
            int[] row = new int[width];
            Arrays.fill(row, -1);
            return row;
        }

        /** Breadth first: each missing step goes where the longest proper suffix goes, and each
         * state also ends the literals its longest suffix state ends. */
        private void link(List<int[]> trie, List<List<Integer>> endings) {
            int[] fail = new int[trie.size()];
            ArrayDeque<Integer> queue = new ArrayDeque<>();
            for (int c = 0; c < width; c++) {
                int child = trie.get(0)[c];
                next[c] = child < 0 ? 0 : child;
                if (child > 0) {
                    queue.add(child);
                }
            }
            ends[0] = endings.get(0).isEmpty() ? null : endings.get(0).stream().mapToInt(Integer::intValue).toArray();
            while (!queue.isEmpty()) {
                int state = queue.poll();
                List<Integer> here = endings.get(state);
                if (ends[fail[state]] != null) {
                    for (int id : ends[fail[state]]) {
                        here.add(id);
                    }
                }
                ends[state] = here.isEmpty() ? null : here.stream().mapToInt(Integer::intValue).toArray();
                for (int c = 0; c < width; c++) {
                    int child = trie.get(state)[c];
                    int viaFail = next[fail[state] * width + c];
                    if (child < 0) {
                        next[state * width + c] = viaFail;
                    } else {
                        next[state * width + c] = child;
                        fail[child] = viaFail;
                        queue.add(child);
                    }
                }
            }
        }

        boolean isEmpty() {
            return size == 0;
        }

        boolean[] scan(String text) {
            boolean[] found = new boolean[size];
            if (few != null) {
                for (int id = 0; id < size; id++) {
                    found[id] = text.indexOf(few[id]) >= 0;
                }
                return found;
            }
            int state = 0;
            if (ends[0] != null) {
                for (int id : ends[0]) {
                    found[id] = true; // the empty literal occurs everywhere
                }
            }
            for (int i = 0, n = text.length(); i < n; i++) {
                state = next[state * width + classOf[text.charAt(i)]];
                int[] here = ends[state];
                if (here != null) {
                    for (int id : here) {
                        found[id] = true;
                    }
                }
            }
            return found;
        }
    }
}
