// Deterministic test people: WhatsApp IDs that are a permutation of a row number (so a load
// generator knows which numbers exist without asking), names of many languages, and a small PRNG
// so that every run uses the same numbers, names and search terms.

/** Person n (1-based) has this WhatsApp ID: 1 555 plus a permutation of n over 7 digits (n < 10,000,000). */
export const phoneOf = (n: number) => `1555${String((n * 7919 + 12345) % 10_000_000).padStart(7, '0')}`;
/** phoneOf() in SQL, over the integer expression `g`. */
export const PHONE_SQL = (g: string) => `'1555' || lpad(((${g} * 7919 + 12345) % 10000000)::text, 7, '0')`;

export const FIRST_NAMES = [
  'Maria', 'José', 'Ana', 'Juan', 'Luis', 'Carlos', 'Sofia', 'Lucia', 'Mateo', 'Valentina', 'Camila', 'Diego', 'Gabriel', 'Isabela',
  'Fernanda', 'Rafael', 'Bruno', 'Larissa', 'Thiago', 'Beatriz', 'Ahmed', 'Mohamed', 'Fatima', 'Aisha', 'Omar', 'Youssef', 'Layla',
  'Priya', 'Rahul', 'Arjun', 'Ananya', 'Deepak', 'Sunita', 'Vikram', 'Kavya', 'Wei', 'Li', 'Jing', 'Hao', 'Mei', 'Yuki', 'Haruto',
  'Sakura', 'Minjun', 'Jiwoo', 'Olga', 'Ivan', 'Dmitri', 'Natasha', 'Sergei', 'Anna', 'Lukas', 'Emma', 'Leon', 'Mia', 'Noah',
  'Hannah', 'Felix', 'Lena', 'Paul', 'Chloe', 'Louis', 'Camille', 'Hugo', 'Manon', 'Giulia', 'Marco', 'Francesca', 'Alessandro',
  'Chiara', 'James', 'Olivia', 'William', 'Ava', 'Benjamin', 'Charlotte', 'Elijah', 'Amelia', 'Lucas', 'Harper', 'Kwame', 'Amara',
  'Chinedu', 'Ngozi', 'Tunde', 'Zanele', 'Sipho', 'Thandiwe', 'Mehmet', 'Elif', 'Emre', 'Zeynep', 'Nguyen', 'Linh', 'Minh',
  'Siti', 'Budi', 'Putri', 'Andrea', 'Daniel', 'Sara', 'David', 'Laura', 'Pedro', 'Joao', 'Miguel',
];
export const LAST_NAMES = [
  'Silva', 'Santos', 'Oliveira', 'Souza', 'Pereira', 'Costa', 'Rodrigues', 'Almeida', 'Nascimento', 'Lima', 'Garcia', 'Martinez',
  'Lopez', 'Gonzalez', 'Hernandez', 'Perez', 'Sanchez', 'Ramirez', 'Torres', 'Flores', 'Rivera', 'Gomez', 'Diaz', 'Cruz', 'Morales',
  'Reyes', 'Gutierrez', 'Ortiz', 'Castillo', 'Romero', 'Khan', 'Ali', 'Hassan', 'Hussein', 'Rahman', 'Haddad', 'Mansour', 'Sharma',
  'Patel', 'Singh', 'Kumar', 'Gupta', 'Reddy', 'Iyer', 'Chen', 'Wang', 'Zhang', 'Liu', 'Huang', 'Zhao', 'Tanaka', 'Suzuki', 'Sato',
  'Kim', 'Park', 'Lee', 'Ivanov', 'Petrov', 'Smirnov', 'Kuznetsov', 'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer',
  'Wagner', 'Becker', 'Martin', 'Bernard', 'Dubois', 'Moreau', 'Laurent', 'Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi',
  'Romano', 'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Miller', 'Davis', 'Wilson', 'Anderson', 'Taylor', 'Thomas',
  'Okafor', 'Adeyemi', 'Mensah', 'Dlamini', 'Nkosi', 'Yilmaz', 'Kaya', 'Demir', 'Tran', 'Pham', 'Santoso', 'Wijaya',
];

/** Small deterministic PRNG so that every run uses the same phone numbers and search terms. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
export const substringOf = (rand: () => number, text: string, min: number, max: number) => {
  const length = Math.min(text.length, min + Math.floor(rand() * (max - min + 1)));
  const start = Math.floor(rand() * (text.length - length + 1));
  return text.slice(start, start + length);
};

